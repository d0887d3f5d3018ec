"""The offenders table for /status: counts, first/last seen, accounts, all bounded."""

from __future__ import annotations

import ipaddress

from supervisor.security.events import SecurityEvent
from supervisor.security.offenders import Offenders


def failure(source: str, account: str | None = None) -> SecurityEvent:
    return SecurityEvent(
        kind="InvalidAccountID",
        service="PJSIP",
        source=ipaddress.ip_address(source),
        account=account,
        failure=True,
    )


def test_counts_first_last_and_accounts() -> None:
    """Failures are counted per source with first/last seen and the accounts tried."""
    table = Offenders()
    table.record(failure("198.51.100.66", "100"), 1.0)
    table.record(failure("198.51.100.66", "101"), 2.0)
    table.record(failure("198.51.100.66", "100"), 3.0)
    (top,) = table.top()
    assert top.as_dict() == {
        "address": "198.51.100.66",
        "failures": 3,
        "first_seen": 1.0,
        "last_seen": 3.0,
        "accounts": ["101", "100"],
        "events": {"InvalidAccountID": 3},
    }


def test_non_failures_and_sourceless_events_are_ignored() -> None:
    """SuccessfulAuth and events without an address add nothing."""
    table = Offenders()
    ok = SecurityEvent(
        kind="SuccessfulAuth", service="PJSIP", source=None, account="x", failure=False
    )
    table.record(ok, 1.0)
    table.record(
        SecurityEvent(
            kind="InvalidAccountID", service="PJSIP", source=None, account=None, failure=True
        ),
        1.0,
    )
    assert len(table) == 0


def test_sources_and_accounts_are_bounded_and_top_is_sorted() -> None:
    """At most max_sources sources (oldest-seen evicted), max_accounts per source, top by count."""
    table = Offenders(max_sources=50, max_accounts=3)
    for i in range(500):
        table.record(failure(f"2001:db8:bad::{i:x}", f"u{i}"), float(i))
    for i in range(10):
        table.record(failure("203.0.113.7", f"acct{i}"), 1000.0 + i)
    assert len(table) == 50
    top = table.top(3)
    assert str(top[0].address) == "203.0.113.7"
    assert list(top[0].accounts) == ["acct7", "acct8", "acct9"]
    assert table.get(ipaddress.ip_address("2001:db8:bad::0")) is None
