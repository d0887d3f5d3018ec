"""The recorder's loop: counts what the record folds, once; lost only with a synced view."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from pathlib import Path
from types import SimpleNamespace

from lab.waits import until
from supervisor.records import schema
from supervisor.records.recorder import Recorder, Retention
from supervisor.records.store import Query, RecordStore
from tests.supervisor.records.cel import BUSY, INBOUND, OUTBOUND
from tests.supervisor.records.recorded import write


def site(*trunks: str, days: int = 400, calls: int = 1_000_000) -> SimpleNamespace:
    records = SimpleNamespace(keep_days=days, keep_calls=calls)
    return SimpleNamespace(site=SimpleNamespace(trunks=dict.fromkeys(trunks), records=records))


async def test_counts_each_recorded_call_once_and_lost_needs_a_synced_view(tmp_path: Path) -> None:
    """Ended calls are counted under the live site's trunk labels; an unfinished call is lost
    only once the AMI view is synced and does not have it; a second pass counts nothing."""
    store = RecordStore(tmp_path / schema.RELATIVE_PATH)
    store.create()
    view: list[Collection[str] | None] = [None]
    recorder = Recorder(
        store=store, live=lambda: view[0], interval_s=0.02, stale_s=0.0, clock=lambda: 1000.0
    )
    recorder.on_config(site("provider"))
    write(store, OUTBOUND + BUSY + INBOUND[:4])
    task = asyncio.create_task(recorder.run())
    try:
        await until(lambda: sum(recorder.counts.values()) == 2)
        await asyncio.sleep(0.1)
        assert store.open_calls() == 1  # no synced view: not declared lost
        assert recorder.status()["calls_queued"] == 1
        view[0] = frozenset()
        recorder.hint()
        await until(lambda: sum(recorder.counts.values()) == 3)
        await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert recorder.counts == {
        ("outbound", "provider", "answered"): 1,
        ("internal", "", "busy"): 1,
        ("inbound", "provider", "lost"): 1,
    }
    assert recorder.status()["calls_counted"] == 3
    assert recorder.status()["calls_queued"] == 0


async def test_a_broken_record_is_reported_and_retried(tmp_path: Path) -> None:
    """A record that cannot be read is counted and shown in /status (no data in the message),
    the loop goes on, and folding resumes once the file is back."""
    store = RecordStore(tmp_path / schema.RELATIVE_PATH)
    recorder = Recorder(store=store, live=lambda: None, interval_s=0.02)
    task = asyncio.create_task(recorder.run())
    try:
        await until(lambda: recorder.errors >= 2)
        assert "calls.db" in str(recorder.status()["last_error"])
        store.create()
        write(store, BUSY)
        await until(lambda: sum(recorder.counts.values()) == 1)
        assert recorder.status()["last_error"] is None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_retention_is_pruned_when_due(tmp_path: Path) -> None:
    """A pass prunes past the retention at most once per period."""
    store = RecordStore(tmp_path / schema.RELATIVE_PATH)
    store.create()
    write(store, OUTBOUND + BUSY)
    recorder = Recorder(store=store, live=lambda: None)
    recorder.on_config(site(days=1, calls=1))  # the site's retention
    assert recorder.retention == Retention(days=1, calls=1)
    assert len(recorder._step(None, now=100.0)) == 2
    assert [r.linkedid for r in store.query(Query())] == ["1.7"]
    write(store, INBOUND)
    recorder._step(None, now=200.0)  # not due again: both stay
    assert len(store.query(Query())) == 2
