"""The persisted ban list: round trip, expiry and bounds on load, damaged files tolerated."""

from __future__ import annotations

import ipaddress
import json
import stat
from pathlib import Path

import pytest

from supervisor.security.policy import Ban
from supervisor.security.store import BanStore


def ban(source: str, until: float) -> Ban:
    return Ban(source=ipaddress.ip_network(source), since=0.0, until=until, failures=5)


def test_round_trip_drops_expired(tmp_path: Path) -> None:
    """Saved bans load back unchanged, except those expired by then."""
    store = BanStore(tmp_path / "state" / "bans.json")
    store.save([ban("198.51.100.66/32", 100.0), ban("2001:db8:bad::/64", 10.0)])
    assert store.load(now=50.0, limit=10) == [ban("198.51.100.66/32", 100.0)]
    assert not stat.S_IMODE(store.path.stat().st_mode) & 0o007  # not world-readable
    assert [p.name for p in store.path.parent.iterdir()] == ["bans.json"]  # no temp left


def test_load_keeps_the_latest_within_limit(tmp_path: Path) -> None:
    """A file with more bans than the limit keeps the ones expiring last."""
    store = BanStore(tmp_path / "bans.json")
    store.save([ban(f"203.0.113.{i}", 100.0 + i) for i in range(1, 11)])
    loaded = store.load(now=0.0, limit=2)
    assert [str(b.source) for b in loaded] == ["203.0.113.9/32", "203.0.113.10/32"]


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        "[]",
        '{"version": 2, "bans": 3}',
        '{"version": 2, "bans": [{"source": "nope"}, 7]}',
        '{"version": 1, "bans": [{"address": "198.51.100.66", "since": 0, "until": 9e9, '
        '"failures": 5}]}',
    ],
)
def test_damaged_files_mean_no_bans(tmp_path: Path, content: str) -> None:
    """A damaged or foreign file loads as no (or only the valid) bans, never an exception."""
    path = tmp_path / "bans.json"
    path.write_text(content)
    assert BanStore(path).load(now=0.0, limit=10) == []


def test_missing_file_is_no_bans(tmp_path: Path) -> None:
    """No file yet: no bans."""
    assert BanStore(tmp_path / "none.json").load(now=0.0, limit=10) == []


def test_valid_entries_survive_beside_broken_ones(tmp_path: Path) -> None:
    """One malformed entry does not lose the others."""
    path = tmp_path / "bans.json"
    good = {"source": "198.51.100.66/32", "since": 0, "until": 100, "failures": 5}
    path.write_text(json.dumps({"version": 2, "bans": [{"source": "x"}, good]}))
    assert BanStore(path).load(now=0.0, limit=10) == [ban("198.51.100.66/32", 100.0)]


def test_every_field_round_trips_as_json(tmp_path: Path) -> None:
    """The file is JSON, and both families, fractional times and escalation load back as
    saved (the entries are written one by one, not by json.dumps)."""
    store = BanStore(tmp_path / "bans.json")
    bans = [
        Ban(
            source=ipaddress.ip_network("203.0.113.5/32"), since=1.5, until=1e10 + 0.25, failures=5
        ),
        Ban(
            source=ipaddress.ip_network("2001:db8:bad::/48"),
            since=100.0,
            until=2e9,
            failures=20,
            escalated=True,
        ),
    ]
    store.save(bans)
    assert json.loads(store.path.read_text())["version"] == 2
    assert store.load(now=0.0, limit=10) == sorted(bans, key=lambda b: b.until)
