"""The record's two tables and how Asterisk writes the first one (pure: no I/O).

`cel` is Asterisk's, written by cel_sqlite3_custom with the field mapping below: a queue of the
channel events of calls not yet folded. `calls` is the supervisor's: one row per ended call, the
history `calls`, `/calls` and the page read. Both live in one SQLite file, so folding a call
(insert its row, delete its events) is one transaction. docs/records.md documents both; a change
of either is a schema change (SCHEMA_VERSION) with a migration.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1

#: The file, relative to Asterisk's spool directory (the PersistentVolumeClaim). Asterisk's
#: cel_sqlite3_custom names a database by its section and appends ".db" (seen in the lab).
RELATIVE_STEM: Final = "records/calls"
RELATIVE_PATH: Final = RELATIVE_STEM + ".db"

#: CEL events written: enough to know a call's parties, answer, outcome and end. LINKEDID_END
#: is the key one: Asterisk emits it once, when the last channel of a call (its linkedid) is
#: gone, so "the call ended" is a fact of the record, not an inference.
CEL_EVENTS: Final = ("CHAN_START", "ANSWER", "HANGUP", "LINKEDID_END", "USER_DEFINED")
#: The one user event (the rendered dialplan's): VoiceMail()'s VMSTATUS when the channel hangs
#: up; Asterisk writes a user event's own name as its `eventtype`.
VOICEMAIL_EVENT: Final = "VOICEMAIL"

#: (column, cel_sqlite3_custom advanced-mapping field), in table order.
CEL_COLUMNS: Final = (
    ("eventtype", "eventtype"),
    ("eventtime", "eventtime(float)"),
    ("cidnum", "num"),
    ("exten", "exten"),
    ("channame", "channame"),
    ("appname", "appname"),
    ("uniqueid", "uniqueid"),
    ("linkedid", "linkedid"),
    ("extra", "eventextra"),
)

#: Asterisk creates the table when it is missing with `AcctId INTEGER PRIMARY KEY` and these
#: columns; the supervisor creates it first (same columns: Asterisk refuses a table whose columns
#: differ from the mapping) so that the index exists from the first call.
CEL_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS cel (AcctId INTEGER PRIMARY KEY, "
    + ", ".join(name for name, _ in CEL_COLUMNS)
    + ")",
    "CREATE INDEX IF NOT EXISTS cel_linkedid ON cel (linkedid)",
    "CREATE INDEX IF NOT EXISTS cel_eventtype ON cel (eventtype)",
)

#: One row per ended call. `ended` orders the history; the number indexes serve `--number`.
CALLS_DDL: Final = (
    """CREATE TABLE IF NOT EXISTS calls (
        linkedid TEXT PRIMARY KEY,
        started REAL NOT NULL,
        answered REAL,
        ended REAL NOT NULL,
        direction TEXT NOT NULL,
        trunk TEXT NOT NULL,
        caller TEXT NOT NULL,
        callee TEXT NOT NULL,
        answered_by TEXT NOT NULL,
        outcome TEXT NOT NULL,
        cause INTEGER,
        voicemail INTEGER NOT NULL,
        end_seen INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS calls_ended ON calls (ended, linkedid)",
    "CREATE INDEX IF NOT EXISTS calls_caller ON calls (caller, ended)",
    "CREATE INDEX IF NOT EXISTS calls_callee ON calls (callee, ended)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

CALL_COLUMNS: Final = (
    "linkedid",
    "started",
    "answered",
    "ended",
    "direction",
    "trunk",
    "caller",
    "callee",
    "answered_by",
    "outcome",
    "cause",
    "voicemail",
    "end_seen",
)
