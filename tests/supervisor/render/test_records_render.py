"""The record's config: CEL to SQLite always, the PostgreSQL copy only when the site names a
server, its password from the Secret, escaped, in a file kept from others."""

from __future__ import annotations

import pytest

from supervisor.confparse import Setting, parse
from supervisor.render import SECRET_FILES, RenderContext, render
from supervisor.site.errors import SiteInvalid
from tests.supervisor.site.sites import SECRETS, base, load_dict

CONTEXT = RenderContext(ami_secret="records-test-secret")


def test_sqlite_always_postgresql_only_when_named() -> None:
    """Without `records.postgresql`: CEL and cel_sqlite3_custom on the spool volume, no
    cel_pgsql; with it: cel_pgsql.conf with the server and the Secret's password (a `;` in it
    escaped, reading back as written), and its module loaded."""
    files = render(load_dict(base()), CONTEXT)
    assert "cel_pgsql.conf" not in files
    assert "load = cel_sqlite3_custom.so" in files["modules.conf"]
    assert "load = cel_pgsql.so" not in files["modules.conf"]
    assert "[/var/spool/asterisk/records/calls]" in files["cel_sqlite3_custom.conf"]
    assert "events = CHAN_START,ANSWER,HANGUP,LINKEDID_END" in files["cel.conf"]
    site = base() | {
        "records": {
            "keep_days": 30,
            "postgresql": {"host": "2001:db8:5432::1", "password_secret": "pg-password"},
        }
    }
    loaded = load_dict(site, SECRETS | {"pg-password": "pa;ss#1"})
    files = render(loaded, CONTEXT)
    assert "load = cel_pgsql.so" in files["modules.conf"]
    assert "cel_pgsql.conf" in SECRET_FILES
    values = {s.name: s.value for s in parse(files["cel_pgsql.conf"]) if isinstance(s, Setting)}
    assert values["hostname"] == "2001:db8:5432::1"
    assert values["port"] == "5432"
    assert values["password"] == "pa;ss#1"
    assert loaded.site.records.keep_days == 30


def test_a_missing_password_names_its_key() -> None:
    """The Secret key named for PostgreSQL's password must exist: the problem names the path."""
    site = base() | {"records": {"postgresql": {"host": "db.example", "password_secret": "pg"}}}
    with pytest.raises(SiteInvalid, match=r"records\.postgresql\.password_secret"):
        load_dict(site, SECRETS)
