"""The ban policy: threshold in a window, expiry, exemptions, bounds and eviction order."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.security.policy import Ban, BanPolicy, PolicySettings


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


SCANNER = ip("198.51.100.66")


def policy(**changes: object) -> BanPolicy:
    base: dict[str, object] = {"max_failures": 3, "window": 10.0, "ban_time": 60.0}
    return BanPolicy(PolicySettings(**{**base, **changes}))  # type: ignore[arg-type]


def test_nth_failure_within_window_bans() -> None:
    """The max_failures-th failure within the window bans, for ban_time from then."""
    p = policy()
    assert p.failure(SCANNER, 0.0) is None
    assert p.failure(SCANNER, 1.0) is None
    ban = p.failure(SCANNER, 2.0)
    assert ban == Ban(source=net("198.51.100.66/32"), since=2.0, until=62.0, failures=3)
    assert p.banned(SCANNER)
    assert p.failure(SCANNER, 3.0) is None  # already banned: no second ban


def test_failures_spread_wider_than_the_window_do_not_ban() -> None:
    """Slow failures (each window holds fewer than max_failures) never ban."""
    p = policy()
    assert all(p.failure(SCANNER, t * 6.0) is None for t in range(20))
    assert not p.banned(SCANNER)


def test_bans_expire_at_their_time() -> None:
    """expire() lifts exactly the bans whose time is up, and next_expiry names the earliest."""
    p = policy(max_failures=1)
    p.failure(SCANNER, 0.0)
    other = ip("2001:db8:bad::1")
    p.failure(other, 30.0)
    assert p.next_expiry() == 60.0
    assert p.expire(59.9) == []
    assert [b.source for b in p.expire(60.0)] == [net("198.51.100.66/32")]
    assert p.bans == (Ban(source=net("2001:db8:bad::/64"), since=30.0, until=90.0, failures=1),)
    assert [b.source for b in p.expire(1000.0)] == [net("2001:db8:bad::/64")]
    assert p.next_expiry() is None


def test_exempt_networks_are_never_banned() -> None:
    """A source inside an exempt network (v4 or v6) is never banned, however often it fails."""
    exempt = (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:5060::/48"))
    p = policy(max_failures=1, exempt=exempt)
    for address in ("198.51.100.66", "2001:db8:5060::10"):
        assert p.failure(ip(address), 0.0) is None
    assert p.failure(ip("203.0.113.9"), 0.0) is not None


def test_full_ban_list_replaces_the_ban_that_expires_first() -> None:
    """At max_bans a new ban evicts the one expiring soonest; the list never grows past it."""
    p = policy(max_failures=1, max_bans=3)
    for i in range(10):
        p.failure(ip(f"203.0.113.{i + 1}"), float(i))
        assert len(p.bans) <= 3
    assert {str(b.source) for b in p.bans} == {
        "203.0.113.8/32",
        "203.0.113.9/32",
        "203.0.113.10/32",
    }
    assert p.evicted == 7


def test_tracked_sources_are_bounded() -> None:
    """Failure windows are kept for at most max_tracked sources (least recently active go)."""
    p = policy(max_tracked=100)
    for i in range(1000):
        p.failure(ip(f"2001:db8:1:{i:x}::1"), float(i))
    assert p.tracked() == 100


def test_reconfigure_lifts_newly_exempt_and_disabled() -> None:
    """A site change that allows a banned source, or turns blocking off, lifts its ban."""
    p = policy(max_failures=1)
    p.failure(SCANNER, 0.0)
    p.failure(ip("203.0.113.5"), 0.0)
    lifted = p.reconfigure(
        PolicySettings(max_failures=1, exempt=(ipaddress.ip_network("198.51.100.66/32"),))
    )
    assert [b.source for b in lifted] == [net("198.51.100.66/32")]
    assert len(p.reconfigure(PolicySettings(block=False))) == 1
    assert p.bans == ()


def test_blocking_off_only_counts() -> None:
    """With block false nothing is ever banned."""
    p = policy(max_failures=1, block=False)
    assert p.failure(SCANNER, 0.0) is None


def test_restored_bans_keep_their_times_and_respect_exemptions() -> None:
    """Bans handed in (from the store) are kept as they were, exempt ones dropped."""
    bans = [
        Ban(source=net("198.51.100.66/32"), since=0.0, until=100.0, failures=5),
        Ban(source=net("2001:db8:5060::/64"), since=0.0, until=100.0, failures=5),
    ]
    p = BanPolicy(PolicySettings(exempt=(ipaddress.ip_network("2001:db8:5060::/48"),)), bans)
    assert p.bans == (bans[0],)


def test_invalid_settings_are_refused() -> None:
    """Zero thresholds or times are refused at construction."""
    with pytest.raises(ValueError, match="at least 1"):
        PolicySettings(max_failures=0)
    with pytest.raises(ValueError, match="positive"):
        PolicySettings(ban_time=0)


def test_cost_stays_logarithmic_for_many_sources() -> None:
    """20k failures from 1k sources with a 200-ban cap: bans, windows and heap stay bounded."""
    p = policy(max_failures=2, max_bans=200, max_tracked=1200)
    for i in range(20_000):
        p.failure(ip(f"2001:db8:2:{i % 1000:x}::1"), float(i) / 100_000)
    assert len(p.bans) == 200
    assert p.tracked() <= 1200
    assert len(p._heap) <= 2 * 200 + 64 + 1


def test_ipv6_sources_are_their_64_and_rotation_does_not_help() -> None:
    """Failures from different addresses of one IPv6 /64 add up, and the ban covers the /64;
    IPv4 stays per address; with ipv6_prefix 128 IPv6 is per address too."""
    p = policy()
    for i in range(2):
        assert p.failure(ip(f"2001:db8:bad::{i + 1:x}"), float(i)) is None
    ban = p.failure(ip("2001:db8:bad::ffff:1"), 2.0)
    assert ban is not None
    assert ban.source == net("2001:db8:bad::/64")
    assert p.banned(ip("2001:db8:bad::abcd"))
    assert not p.banned(ip("2001:db8:bad:1::1"))
    per_address = policy(ipv6_prefix=128)
    for i in range(3):
        assert per_address.failure(ip(f"2001:db8:bad::{i + 1:x}"), float(i)) is None


def test_a_64_holding_an_exempt_address_is_counted_per_address() -> None:
    """A scanner in the trunk's /64 is banned by its own address, never the trunk's network."""
    exempt = (net("2001:db8:5060::10/128"),)
    p = policy(max_failures=1, exempt=exempt)
    ban = p.failure(ip("2001:db8:5060::66"), 0.0)
    assert ban is not None
    assert ban.source == net("2001:db8:5060::66/128")
    assert p.failure(ip("2001:db8:5060::10"), 0.0) is None


@given(
    exempt=st.lists(
        st.tuples(st.integers(0, 2**8 - 1), st.integers(24, 32)), min_size=0, max_size=30
    ),
    probes=st.lists(st.tuples(st.integers(0, 2**8 - 1), st.integers(24, 32)), max_size=30),
)
@settings(max_examples=300, derandomize=True, deadline=None)
def test_exemption_lookup_agrees_with_the_networks(
    exempt: list[tuple[int, int]], probes: list[tuple[int, int]]
) -> None:
    """Exempt and overlap answers (by bisection over merged ranges) equal a scan of every
    exempt network, for nested, adjacent and repeated networks of both families."""

    def v4(low: int, prefix: int) -> ipaddress.IPv4Network:
        return ipaddress.ip_network((0xCB007100 + low, prefix), strict=False)  # 203.0.113.x

    def v6(low: int, prefix: int) -> ipaddress.IPv6Network:
        # The same 8 varying bits, at the end of a /64 (prefixes /56../64).
        return ipaddress.ip_network((0x20010DB8 << 96 | low << 64, prefix + 32), strict=False)

    nets = [make(low, prefix) for low, prefix in exempt for make in (v4, v6)]
    s = PolicySettings(exempt=tuple(nets))
    for low, prefix in probes:
        for probe in (v4(low, prefix), v6(low, prefix)):
            same = [n for n in nets if n.version == probe.version]
            assert s.overlaps_exempt(probe) == any(probe.overlaps(n) for n in same)
            first = probe.network_address
            assert s.exempts(first) == any(first in n for n in same)
