"""Parsing AMI security events: bounded kinds and services, source addresses, safe accounts."""

from __future__ import annotations

import ipaddress

import pytest

from supervisor.security import events


def msg(name: str, **fields: str) -> dict[str, str]:
    return {"Event": name, "Service": "PJSIP", **fields}


def test_known_failure_event_parses_source_and_account() -> None:
    """ChallengeResponseFailed from IPv4 yields its kind, service, address and account."""
    e = events.parse(
        msg(
            "ChallengeResponseFailed",
            AccountID="desk",
            RemoteAddress="IPV4/UDP/203.0.113.66/5060",
        )
    )
    assert (e.kind, e.service, e.account, e.failure) == (
        "ChallengeResponseFailed",
        "PJSIP",
        "desk",
        True,
    )
    assert e.source == ipaddress.ip_address("203.0.113.66")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("IPV6/UDP/2001:db8:bad::66/5060", "2001:db8:bad::66"),
        ("IPV6/UDP/[2001:db8:bad::66]/5060", "2001:db8:bad::66"),
        ("IPV6/UDP/::ffff:198.51.100.7/5060", "198.51.100.7"),
        ("IPV6/UDP/fe80::1%eth0/5060", "fe80::1"),
        ("IPV4/UDP/not-an-ip/5060", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_remote_address_forms(field: str, expected: str | None) -> None:
    """RemoteAddress: IPv6 with or without brackets, v4-mapped unmapped, zone dropped, junk None."""
    source = events.parse(msg("InvalidAccountID", RemoteAddress=field)).source
    assert (str(source) if source else None) == expected


def test_unknown_names_and_services_map_to_other() -> None:
    """An event or service outside the known sets is labelled `other` (bounded labels)."""
    e = events.parse({"Event": "BrandNewThing", "Service": "X" * 200})
    assert (e.kind, e.service, e.failure) == ("other", "other", False)


def test_hostile_account_names_are_dropped() -> None:
    """An account with spaces, markup or too long is not kept (it reaches /status and logs)."""
    for account in ("a b", "<script>", "x" * 65, "new\nline"):
        assert events.parse(msg("InvalidAccountID", AccountID=account)).account is None


def test_success_and_limits_are_not_failures() -> None:
    """SuccessfulAuth, ChallengeSent and load limits are not failures; every event is
    subscribed (ChallengeSent shows floods naming real accounts)."""
    assert not events.parse(msg("SuccessfulAuth")).failure
    assert not events.parse(msg("ChallengeSent")).failure
    assert not events.parse(msg("MemoryLimit")).failure
    assert set(events.SUBSCRIBED) == set(events.KNOWN_EVENTS)
    assert set(events.FAILURES) <= set(events.SUBSCRIBED)


@pytest.mark.parametrize(
    ("remote", "proven"),
    [
        ("IPV6/UDP/2001:db8:bad::66/5060", False),
        ("IPV4/TCP/203.0.113.66/5060", True),
        ("IPV6/TLS/2001:db8:bad::66/5061", True),
        ("IPV4/WSS/203.0.113.66/8089", True),
        ("garbage", False),
    ],
)
def test_a_connection_proves_the_source_address(remote: str, proven: bool) -> None:
    """TCP, TLS and WebSocket failures are proven (a handshake needs the address); UDP not."""
    assert events.parse(msg("InvalidAccountID", RemoteAddress=remote)).proven is proven
