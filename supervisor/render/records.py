"""cel.conf and cel_sqlite3_custom.conf: Asterisk records every call's channel events in the
record's SQLite file on the spool volume (supervisor/records, docs/records.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from supervisor.records import schema
from supervisor.render.conf import GENERATED, document, section
from supervisor.render.context import Directories
from supervisor.site.grammar import escape_value
from supervisor.site.model import Site

#: cel_sqlite3_custom's wait for the supervisor's write lock (it folds a few calls at a time,
#: milliseconds); a CEL write that gives up is an event lost, so the wait is generous.
BUSY_TIMEOUT_MS: Final = 5000

#: cel_sqlite3_custom needs res_cdrel_custom (Asterisk 22's documentation XML: <depend>).
MODULES: Final = ("res_cdrel_custom.so", "cel_sqlite3_custom.so")
PGSQL_MODULE: Final = "cel_pgsql.so"


def modules(site: Site) -> tuple[str, ...]:
    """The record's modules: SQLite always, PostgreSQL when the site names a server."""
    return MODULES + ((PGSQL_MODULE,) if site.records.postgresql is not None else ())


def render_cel_pgsql(site: Site, secrets: Mapping[str, str]) -> str | None:
    """cel_pgsql.conf when the site names a PostgreSQL server (it holds its password)."""
    pg = site.records.postgresql
    if pg is None:
        return None
    return document(
        GENERATED,
        [
            section(
                "global",
                [
                    ("hostname", pg.host),
                    ("port", pg.port),
                    ("dbname", pg.database),
                    ("user", pg.user),
                    ("password", escape_value(secrets[pg.password_secret])),
                    ("table", pg.table),
                    ("appname", "asterisk"),
                    ("usegmtime", "yes"),
                ],
            )
        ],
    )


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
