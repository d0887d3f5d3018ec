"""A record file holding the lab's four calls, folded (for the history's readers)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from supervisor.records import schema
from supervisor.records.store import RecordStore
from tests.supervisor.records.cel import BUSY, INBOUND, NO_ANSWER, OUTBOUND, TRUNKS

Row = tuple[str, float, str, str, str, str, str, str, str]


def write(store: RecordStore, rows: list[Row]) -> None:
    """Insert CEL rows the way cel_sqlite3_custom does: its own connection, every field as text
    (eventtime(float) is written as `1796531528.231183`, measured)."""
    columns = ", ".join(c for c, _ in schema.CEL_COLUMNS)
    text = [(r[0], f"{r[1]:.6f}", *r[2:]) for r in rows]
    with sqlite3.connect(store.path) as db:
        db.executemany(f"INSERT INTO cel ({columns}) VALUES (?,?,?,?,?,?,?,?,?)", text)


def recorded(directory: Path, offset: float = 0.0) -> RecordStore:
    """The four calls (ended 12.1, 20.3, 32.1, 45.1 s after `offset`), folded."""
    store = RecordStore(directory / schema.RELATIVE_PATH)
    store.create()
    rows = OUTBOUND + BUSY + NO_ANSWER + INBOUND
    write(store, [(r[0], r[1] + offset, *r[2:]) for r in rows])
    store.fold_ended(TRUNKS)
    return store
