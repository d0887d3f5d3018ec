"""cel.conf and cel_sqlite3_custom.conf: Asterisk records every call's channel events in the
record's SQLite file on the spool volume (supervisor/records, docs/records.md)."""

from __future__ import annotations

from typing import Final

from supervisor.records import schema
from supervisor.render.conf import GENERATED, document, section
from supervisor.render.context import Directories

#: cel_sqlite3_custom's wait for the supervisor's write lock (it folds a few calls at a time,
#: milliseconds); a CEL write that gives up is an event lost, so the wait is generous.
BUSY_TIMEOUT_MS: Final = 5000

#: cel_sqlite3_custom needs res_cdrel_custom (Asterisk 22's documentation XML: <depend>).
MODULES: Final = ("res_cdrel_custom.so", "cel_sqlite3_custom.so")


def record_section(directories: Directories) -> str:
    """The record file as Asterisk sees it, without the ".db" cel_sqlite3_custom appends."""
    return f"{directories.astspooldir.rstrip('/')}/{schema.RELATIVE_STEM}"


def render_cel() -> str:
    return document(
        GENERATED,
        [section("general", [("enable", "yes"), ("events", ",".join(schema.CEL_EVENTS))])],
    )


def render_cel_sqlite(directories: Directories) -> str:
    # A section named by an absolute path: that file, not one under astlogdir.
    return document(
        GENERATED,
        [
            section(
                record_section(directories),
                [
                    ("table", "cel"),
                    ("columns", ", ".join(c for c, _ in schema.CEL_COLUMNS)),
                    ("fields", ", ".join(f for _, f in schema.CEL_COLUMNS)),
                    ("busy_timeout", BUSY_TIMEOUT_MS),
                ],
            )
        ],
    )
