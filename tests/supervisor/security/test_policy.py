"""The ban policy: threshold in a window, expiry, exemptions, bounds and eviction order."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.security.events import IPNetwork, order
from supervisor.security.policy import Ban, BanPolicy, Collapsed, PolicySettings, collapse


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


SCANNER = ip("198.51.100.66")


def policy(**changes: object) -> BanPolicy:
    base: dict[str, object] = {
        "max_failures": 3,
        "window": 10.0,
        "ban_time": 60.0,
        "escalate": False,
    }
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


def escalating(**changes: object) -> BanPolicy:
    """The default thresholds (5 failures in 600 s, 1 h bans) with escalation on."""
    return BanPolicy(PolicySettings(**changes))  # type: ignore[arg-type]


def test_unproven_failures_never_ban_a_vouched_address_or_its_64() -> None:
    """Once a device authenticated from an address, forged (UDP) failures from it, or from
    its /64 neighbours, never ban it: they are counted as unproven; a neighbour is counted by
    its own address instead of the /64."""
    p = escalating(max_failures=1)
    phone = ip("2001:db8:1:2::10")
    p.vouch(phone, 0.0)
    for t in range(50):
        assert p.failure(phone, float(t), proven=False) is None
    assert p.unproven == 50
    assert not p.banned(phone)
    neighbour = ip("2001:db8:1:2::66")
    ban = p.failure(neighbour, 60.0, proven=False)
    assert ban is not None
    assert ban.source == net("2001:db8:1:2::66/128")
    assert not p.banned(phone)


def test_proven_failures_count_even_from_a_vouched_address() -> None:
    """A failure over TCP/TLS proves its source: a vouched address that really fails is banned
    (by its own address, never its /64 with the device's neighbours)."""
    p = escalating(max_failures=2)
    phone = ip("2001:db8:1:2::10")
    p.vouch(phone, 0.0)
    assert p.failure(phone, 1.0, proven=True) is None
    ban = p.failure(phone, 2.0, proven=True)
    assert ban is not None
    assert ban.source == net("2001:db8:1:2::10/128")


def test_vouching_expires_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A vouched address lapses VOUCH_TIME after its last success; at most MAX_VOUCHED kept."""
    from supervisor.security import policy as module

    monkeypatch.setattr(module, "MAX_VOUCHED", 10)
    p = escalating(max_failures=1)
    for i in range(30):
        p.vouch(ip(f"203.0.113.{i + 1}"), 0.0)
    assert sum(p.vouched(ip(f"203.0.113.{i + 1}")) for i in range(30)) == 10
    p.vouch(ip("198.51.100.1"), module.VOUCH_TIME + 1.0)  # expires the others
    assert not p.vouched(ip("203.0.113.30"))
    assert p.failure(ip("203.0.113.30"), module.VOUCH_TIME + 2.0, proven=False) is not None


def rotate(p: BanPolicy, count: int, per: int, step: float) -> list[float]:
    """An attacker with 2001:db8:bad0::/48: `per` failures from each of `count` /64s, at one
    every `step` seconds, skipping at once (no time lost) whatever is banned; the times of the
    failures that were accepted (their source was not banned)."""
    accepted: list[float] = []
    t = 0.0
    base = int(ipaddress.ip_address("2001:db8:bad0::"))
    for i in range(count):
        for j in range(per):
            address = ipaddress.ip_address(base + (i << 64) + j + 1)
            if p.banned(address):
                break
            accepted.append(t)
            p.failure(address, t, proven=False)
            t += step
    return accepted


def test_rotation_through_a_48_is_stopped_by_escalation() -> None:
    """Four failures from each /64 of one /48 (never enough for a /64 ban), fast or paced: the
    /48 is banned, and no hour holds more than 10 accepted tests (one ban, at the 10th)."""
    for step in (0.001, 1.0, 30.0):
        p = escalating()
        accepted = rotate(p, 4096, 4, step)
        assert p.banned(ip("2001:db8:bad0:ffff::1")), step
        assert any(b.escalated and b.source.prefixlen == 48 for b in p.bans), step
        first_hour = [t for t in accepted if t < 3600.0]
        assert len(first_hour) <= 10, (step, len(first_hour))


def test_one_fast_scanner_never_widens_its_own_ban() -> None:
    """Escalation needs failures from two or more narrower sources: one /64 failing 100 times
    (a flood in flight when its ban lands) is banned as its /64 only."""
    p = escalating()
    for t in range(100):
        p.failure(ip("2001:db8:bad::66"), t * 0.001)
    assert [str(b.source) for b in p.bans] == ["2001:db8:bad::/64"]


def test_a_wide_prefix_holding_a_device_or_exempt_network_is_never_banned() -> None:
    """Rotation through the /48 of a registered phone (or a trunk) bans /64s, never a prefix
    that holds the phone or the trunk."""
    for protect in ("vouch", "exempt"):
        phone = ip("2001:db8:bad0:77::10")
        exempt = (net("2001:db8:bad0:77::10/128"),) if protect == "exempt" else ()
        p = escalating(exempt=exempt)
        if protect == "vouch":
            p.vouch(phone, 0.0)
        rotate(p, 2_000, 5, 0.01)
        assert not p.banned(phone), protect
        assert not any(phone in b.source for b in p.bans), protect
        assert any(b.escalated for b in p.bans), protect  # /56s without the phone are


def test_ipv4_escalates_to_the_24() -> None:
    """Several addresses of one IPv4 /24 failing: the /24 is banned."""
    p = escalating()
    for i in range(30):
        p.failure(ip(f"198.51.100.{i + 1}"), float(i))
    assert p.banned(ip("198.51.100.200"))
    assert any(str(b.source) == "198.51.100.0/24" for b in p.bans)


def test_a_full_list_lifts_the_oldest_plain_ban_and_keeps_escalated_ones() -> None:
    """At max_bans, new bans push out the oldest non-escalated ones; escalated bans stay while
    plain ones remain; the count of evictions is exact."""
    p = escalating(max_failures=1, max_bans=50)
    p.vouch(ip("2001:db8:bad0:ff00::10"), 0.0)  # a phone in the /48 keeps it from a ban
    rotate(p, 8, 1, 0.01)  # /64 bans of one /56, then its /56 ban
    wide = [b for b in p.bans if b.escalated]
    plain = [b for b in p.bans if not b.escalated]
    assert [str(b.source) for b in wide] == ["2001:db8:bad0::/56"]
    for i in range(200):
        p.failure(ip(f"2001:db8:{i:x}::1"), 10.0 + i)
    assert len(p.bans) == 50
    assert wide[0] in p.bans
    newest = {str(b.source) for b in p.bans if not b.escalated}
    assert newest == {f"2001:db8:{i:x}::/64" for i in range(151, 200)}
    assert p.evicted == len(plain) + len(wide) + 200 - 50


def test_unanswered_challenges_make_a_failure_per_batch_and_success_resets() -> None:
    """CHALLENGE_BATCH challenges for a real account from one source within the window count
    one failure; a successful answer (a phone) starts the count over."""
    from supervisor.security.policy import CHALLENGE_BATCH

    p = escalating()
    flood = ip("203.0.113.66")
    hits = [p.challenge(flood, i * 0.01) for i in range(CHALLENGE_BATCH * 3)]
    assert hits.count(True) == 3
    phone = ip("203.0.113.7")
    for i in range(CHALLENGE_BATCH * 3):
        assert not p.challenge(phone, i * 0.01)
        p.vouch(phone, i * 0.01)  # each challenge answered


def test_collapse_is_ipaddress_collapse_for_both_families() -> None:
    """collapse() gives what ipaddress.collapse_addresses gives per family (covered networks
    dropped, sibling halves merged), IPv4 first, for random nested and adjacent prefixes."""
    rng = random.Random(27)
    v4_bases = [int(ipaddress.ip_address(a)) for a in ("198.51.100.0", "203.0.113.0")]
    v6_base = int(ipaddress.ip_address("2001:db8::"))
    for _ in range(300):
        networks: list[IPNetwork] = []
        for _ in range(rng.randint(0, 60)):
            if rng.random() < 0.5:
                p = rng.randint(22, 32)
                value = rng.choice(v4_bases) + rng.randint(0, 255)
                networks.append(ipaddress.IPv4Network((value >> (32 - p) << (32 - p), p)))
            else:
                p = rng.randint(44, 68)
                value = v6_base + (rng.randint(0, 1023) << 60)
                networks.append(ipaddress.IPv6Network((value >> (128 - p) << (128 - p), p)))
        v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
        v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
        expected = [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]
        assert collapse(networks) == expected


def test_collapsed_kept_by_additions_is_collapse_of_all() -> None:
    """Collapsed, fed one network at a time in any order (covered, covering, sibling halves
    that merge up several levels), holds what collapse() gives for all of them, with texts."""
    rng = random.Random(48)
    for _ in range(300):
        networks: list[IPNetwork] = []
        for _ in range(rng.randint(0, 80)):
            if rng.random() < 0.4:
                p = rng.randint(28, 32)
                value = int(ipaddress.ip_address("203.0.113.0")) + rng.randint(0, 15)
                networks.append(ipaddress.IPv4Network((value >> (32 - p) << (32 - p), p)))
            else:
                p = rng.randint(60, 66)
                value = int(ipaddress.ip_address("2001:db8::")) + (rng.randint(0, 31) << 62)
                networks.append(ipaddress.IPv6Network((value >> (128 - p) << (128 - p), p)))
        kept = Collapsed()
        for network in networks:
            kept.add(order(network), network)
        assert kept.networks == collapse(networks)
        assert kept.texts == [str(n) for n in kept.networks]
