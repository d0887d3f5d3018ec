"""The record's SQLite file: folding exactly once, lost calls, retention, history queries."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from supervisor.records import schema
from supervisor.records.store import MAX_LIMIT, Query, RecordError, RecordStore
from tests.supervisor.records.cel import BUSY, INBOUND, NO_ANSWER, OUTBOUND, TRUNKS
from tests.supervisor.records.recorded import write

Row = tuple[str, float, str, str, str, str, str, str, str]


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    s = RecordStore(tmp_path / "spool" / schema.RELATIVE_PATH)
    s.create()
    return s


def test_create_is_idempotent_private_and_versioned(store: RecordStore) -> None:
    """Creating twice keeps the data; the file and directory are closed to others; WAL."""
    write(store, OUTBOUND)
    store.create()
    assert store.open_calls() == 1
    assert stat.S_IMODE(store.path.stat().st_mode) & 0o007 == 0
    assert stat.S_IMODE(store.path.parent.stat().st_mode) & 0o007 == 0
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(schema.SCHEMA_VERSION),)


def test_ended_calls_are_folded_once_and_leave_the_queue(store: RecordStore) -> None:
    """Each ended call becomes one row, reported once; its events leave the queue; a call
    still going (no LINKEDID_END) stays queued."""
    write(store, OUTBOUND + BUSY + INBOUND[:4])
    new = store.fold_ended(TRUNKS)
    assert sorted(r.key for r in new) == [
        ("internal", "", "busy"),
        ("outbound", "provider", "answered"),
    ]
    assert store.fold_ended(TRUNKS) == []
    assert store.open_calls() == 1
    write(store, INBOUND[4:])
    (inbound,) = store.fold_ended(TRUNKS)
    assert inbound.key == ("inbound", "provider", "answered")
    assert store.open_calls() == 0


def test_a_call_recorded_again_is_not_reported_again(store: RecordStore) -> None:
    """Events of a call already folded (a straggler, a replay) are dropped, not counted."""
    write(store, BUSY)
    assert len(store.fold_ended(TRUNKS)) == 1
    write(store, BUSY)
    assert store.fold_ended(TRUNKS) == []
    assert store.open_calls() == 0
    assert len(store.query(Query())) == 1


def test_lost_only_when_stale_and_not_live(store: RecordStore) -> None:
    """A call without an end is lost only when Asterisk no longer has it and no event of it
    came since `before`; then it is folded once as lost, and its late end changes nothing."""
    open_call = INBOUND[:4]  # last event at 41.1
    write(store, open_call)
    assert store.fold_lost(TRUNKS, live={"1.2"}, before=100.0) == []  # Asterisk still has it
    assert store.fold_lost(TRUNKS, live=set(), before=41.0) == []  # an event came since
    (lost,) = store.fold_lost(TRUNKS, live=set(), before=100.0)
    assert lost.key == ("inbound", "provider", "lost")
    assert not lost.end_seen
    write(store, INBOUND[4:])  # the end, written after all
    assert store.fold_ended(TRUNKS) == []
    assert store.open_calls() == 0


def test_retention_by_age_and_by_count(store: RecordStore) -> None:
    """Calls past the age go, then the oldest beyond the count; the newest stay."""
    write(store, OUTBOUND + BUSY + NO_ANSWER + INBOUND)  # ended 12.1, 20.3, 32.1, 45.1
    assert len(store.fold_ended(TRUNKS)) == 4
    assert store.prune(older_than=15.0, keep=10) == 1
    assert store.prune(older_than=0.0, keep=2) == 1
    assert [r.ended for r in store.query(Query())] == [45.1, 32.1]
    assert store.prune(older_than=0.0, keep=2) == 0


def test_query_filters_pages_and_bounds(store: RecordStore) -> None:
    """Newest first; `since`, caller-or-callee `number`, a cursor to page on; at most
    MAX_LIMIT rows whatever is asked."""
    write(store, OUTBOUND + BUSY + NO_ANSWER + INBOUND)
    store.fold_ended(TRUNKS)
    assert [r.linkedid for r in store.query(Query())] == ["1.2", "1.1", "1.7", "1.5"]
    assert [r.linkedid for r in store.query(Query(since=30.0))] == ["1.2", "1.1"]
    assert [r.linkedid for r in store.query(Query(number="+4930555"))] == ["1.2"]
    assert [r.linkedid for r in store.query(Query(number="sipp"))] == ["1.1", "1.7", "1.5"]
    assert [r.linkedid for r in store.query(Query(number="11"))] == ["1.7"]
    first = store.query(Query(limit=2))
    last = first[-1]
    page = store.query(Query(limit=2, before=(last.ended, last.linkedid)))
    assert [r.linkedid for r in first + page] == ["1.2", "1.1", "1.7", "1.5"]
    assert store.query(Query(limit=10**9)) == store.query(Query(limit=MAX_LIMIT))


def test_an_unreadable_record_is_a_record_error(tmp_path: Path) -> None:
    """A missing file is a RecordError naming it (never sqlite3's exception)."""
    store = RecordStore(tmp_path / "missing" / "calls.db")
    with pytest.raises(RecordError, match=r"calls\.db"):
        store.query(Query())


def test_folding_while_asterisk_writes(store: RecordStore) -> None:
    """A writer inserting calls while folds run: every call folded exactly once."""
    calls = 300

    def asterisk() -> None:
        columns = ", ".join(c for c, _ in schema.CEL_COLUMNS)
        with sqlite3.connect(store.path, timeout=5) as db:
            for n in range(calls):
                rows = [(r[0], r[1] + n, *r[2:6], f"{n}.{r[6]}", f"n{n}", r[8]) for r in BUSY]
                db.executemany(f"INSERT INTO cel ({columns}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
                db.commit()

    writer = threading.Thread(target=asterisk)
    writer.start()
    folded = []
    while writer.is_alive():
        folded += store.fold_ended(TRUNKS)
    writer.join()
    folded += store.fold_ended(TRUNKS)
    assert sorted(r.linkedid for r in folded) == sorted(f"n{n}" for n in range(calls))
