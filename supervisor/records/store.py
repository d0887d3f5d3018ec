"""The record's SQLite file: folding Asterisk's CEL events into the call history, retention, and
the history's queries. Blocking (sqlite3): callers run it off the event loop.

Exactly once: a call is folded in one transaction that inserts its `calls` row (primary key: its
linkedid) and deletes its CEL events. The write lock is held from the first read (BEGIN
IMMEDIATE), so Asterisk cannot add an event of a call between our reading and deleting it. A call
is therefore either still in the queue (it will be folded) or in `calls` (it was, once); an
insert that finds the key already there changes nothing and is not reported. Every caller counts
only the records a fold returns, so nothing in the record is counted twice and nothing is missed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from supervisor.records import schema
from supervisor.records.fold import CallRecord, CelRow, fold

#: How long we wait for Asterisk's write lock (its own wait is cel_sqlite3_custom's busy_timeout).
BUSY_TIMEOUT_S: Final = 2.0
#: Calls folded per transaction: the write lock is held a few milliseconds at a time.
FOLD_BATCH: Final = 200
#: Rows deleted per retention transaction.
PRUNE_BATCH: Final = 2000
#: Most rows a history query returns.
MAX_LIMIT: Final = 500

_CEL_SELECT: Final = "SELECT " + ", ".join(c for c, _ in schema.CEL_COLUMNS) + " FROM cel"
_CALL_SELECT: Final = "SELECT " + ", ".join(schema.CALL_COLUMNS) + " FROM calls"
_CALL_INSERT: Final = (
    "INSERT OR IGNORE INTO calls ("
    + ", ".join(schema.CALL_COLUMNS)
    + ") VALUES ("
    + ", ".join("?" * len(schema.CALL_COLUMNS))
    + ")"
)


class RecordError(Exception):
    """The record cannot be read or written (the message says which file and why)."""


@dataclass(frozen=True, kw_only=True)
class Query:
    """A history query: calls that ended at or after `since` (epoch seconds), with `number` as
    caller or callee, newest first, `limit` rows, before the cursor `before` (ended, linkedid)."""

    since: float | None = None
    number: str | None = None
    limit: int = 100
    before: tuple[float, str] | None = None


class RecordStore:
    """The SQLite file at `path` (our view of Asterisk's spool volume)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self, owner: tuple[int, int] | None = None) -> None:
        """The directory, file and tables (idempotent). `owner` (uid, gid): who Asterisk runs as,
        when we run as root (SQLite gives its journal files the database file's owner)."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        # Personal data: no access for others, whatever the umask.
        os.chmod(directory, 0o770)
        with self._connect() as db:
            # WAL: reading the history never blocks Asterisk's writes (and the other way round).
            db.execute("PRAGMA journal_mode=WAL")
            for statement in (*schema.CEL_DDL, *schema.CALLS_DDL):
                db.execute(statement)
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(schema.SCHEMA_VERSION),),
            )
        os.chmod(self.path, 0o660)
        if owner is not None:
            for path in (directory, self.path):
                os.chown(path, *owner)

    @contextlib.contextmanager
    def _connect(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        try:
            if write:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            else:
                uri = f"file:{self.path}?mode=ro"
                db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise RecordError(f"{self.path}: {exc}") from exc
        try:
            yield db
        except sqlite3.Error as exc:
            raise RecordError(f"{self.path}: {exc}") from exc
        finally:
            db.close()

    # ---- folding -------------------------------------------------------------------------------

    def fold_ended(self, trunks: Mapping[str, str]) -> list[CallRecord]:
        """Fold calls whose end (LINKEDID_END) is in the record; the newly recorded ones."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                ended = [
                    r[0]
                    for r in db.execute(
                        "SELECT linkedid FROM cel WHERE eventtype = 'LINKEDID_END' LIMIT ?",
                        (FOLD_BATCH,),
                    )
                ]
                new = self._fold(db, ended, trunks, end_seen=True)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return new

    def fold_lost(
        self, trunks: Mapping[str, str], live: Collection[str], before: float
    ) -> list[CallRecord]:
        """Fold as `lost` the calls the record will never see end: no LINKEDID_END, not among
        Asterisk's calls now (`live`: linkedids from a synced AMI view), and no event since
        `before` (an end being written is never mistaken for none)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                stale = [
                    r[0]
                    for r in db.execute(
                        # Asterisk writes every field as text: compare times as numbers.
                        "SELECT linkedid FROM cel GROUP BY linkedid "
                        "HAVING max(CAST(eventtime AS REAL)) < ? "
                        "AND sum(eventtype = 'LINKEDID_END') = 0",
                        (before,),
                    )
                    if r[0] not in live
                ][:FOLD_BATCH]
                new = self._fold(db, stale, trunks, end_seen=False)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return new

    @staticmethod
    def _fold(
        db: sqlite3.Connection, linkedids: list[str], trunks: Mapping[str, str], *, end_seen: bool
    ) -> list[CallRecord]:
        new = []
        for linkedid in linkedids:
            rows = [
                CelRow(
                    eventtype=str(r[0]),
                    eventtime=_float(r[1]),
                    cidnum=str(r[2] or ""),
                    exten=str(r[3] or ""),
                    channame=str(r[4] or ""),
                    appname=str(r[5] or ""),
                    uniqueid=str(r[6] or ""),
                    linkedid=str(r[7] or ""),
                    extra=str(r[8] or ""),
                )
                for r in db.execute(
                    _CEL_SELECT + " WHERE linkedid = ? ORDER BY AcctId", (linkedid,)
                )
            ]
            if rows:
                record = fold(linkedid, rows, trunks, end_seen=end_seen)
                if db.execute(_CALL_INSERT, _values(record)).rowcount == 1:
                    new.append(record)
            db.execute("DELETE FROM cel WHERE linkedid = ?", (linkedid,))
        return new

    def open_calls(self) -> int:
        """Calls in the queue (events written, not yet folded)."""
        with self._connect(write=False) as db:
            return int(db.execute("SELECT count(DISTINCT linkedid) FROM cel").fetchone()[0])

    # ---- retention -----------------------------------------------------------------------------

    def prune(self, *, older_than: float, keep: int) -> int:
        """Delete calls that ended before `older_than` and the oldest beyond the newest `keep`,
        a batch per transaction (Asterisk waits for one batch at most); how many went."""
        removed = 0
        with self._connect() as db:
            row = db.execute(
                "SELECT ended FROM calls ORDER BY ended DESC LIMIT 1 OFFSET ?", (keep,)
            ).fetchone()
            cutoff = older_than if row is None else max(older_than, _float(row[0]) + 1e-6)
            while True:
                gone = db.execute(
                    "DELETE FROM calls WHERE rowid IN (SELECT rowid FROM calls WHERE ended < ? "
                    "ORDER BY ended LIMIT ?)",
                    (cutoff, PRUNE_BATCH),
                ).rowcount
                removed += gone
                if gone < PRUNE_BATCH:
                    return removed

    # ---- history -------------------------------------------------------------------------------

    def query(self, query: Query) -> list[CallRecord]:
        """The calls `query` selects, newest first (at most MAX_LIMIT)."""
        where: list[str] = []
        args: list[object] = []
        if query.since is not None:
            where.append("ended >= ?")
            args.append(query.since)
        if query.before is not None:
            where.append("(ended < ? OR (ended = ? AND linkedid < ?))")
            args += [query.before[0], query.before[0], query.before[1]]
        limit = max(1, min(query.limit, MAX_LIMIT))
        order = " ORDER BY ended DESC, linkedid DESC LIMIT ?"
        with self._connect(write=False) as db:
            if query.number is None:
                sql = _CALL_SELECT + (" WHERE " + " AND ".join(where) if where else "") + order
                rows = db.execute(sql, (*args, limit)).fetchall()
            else:
                # One indexed range per side, merged: an OR over two columns would scan.
                rows = []
                for column in ("caller", "callee"):
                    sql = _CALL_SELECT + " WHERE " + " AND ".join([f"{column} = ?", *where])
                    rows += db.execute(sql + order, (query.number, *args, limit)).fetchall()
                unique = {r[0]: r for r in rows}
                rows = sorted(unique.values(), key=lambda r: (r[3], r[0]), reverse=True)[:limit]
        return [_record(r) for r in rows]


def _values(r: CallRecord) -> tuple[object, ...]:
    return (
        r.linkedid,
        r.started,
        r.answered,
        r.ended,
        r.direction,
        r.trunk,
        r.caller,
        r.callee,
        r.answered_by,
        r.outcome,
        r.cause,
        int(r.voicemail),
        int(r.end_seen),
    )


def _record(r: tuple[object, ...]) -> CallRecord:
    return CallRecord(
        linkedid=str(r[0]),
        started=_float(r[1]),
        answered=None if r[2] is None else _float(r[2]),
        ended=_float(r[3]),
        direction=str(r[4]),
        trunk=str(r[5]),
        caller=str(r[6]),
        callee=str(r[7]),
        answered_by=str(r[8]),
        outcome=str(r[9]),
        cause=r[10] if isinstance(r[10], int) else None,
        voicemail=bool(r[11]),
        end_seen=bool(r[12]),
    )


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
