"""The verdict logic against hand-made kernel states and a fake probe, without root."""

from __future__ import annotations

import ipaddress

from supervisor.addresses.check import ResolvedTrunk, assess
from supervisor.addresses.model import (
    IFA_F_DADFAILED,
    IFA_F_DEPRECATED,
    IFA_F_TENTATIVE,
    ExpectedAddress,
    IPAddress,
    KernelAddress,
    Trunk,
)

V6 = ipaddress.ip_address("2001:db8:e8b1::1:1")
V4 = ipaddress.ip_address("203.0.113.10")
PROVIDER = ipaddress.ip_address("2001:db8:5060::10")
OTHER = ipaddress.ip_address("2001:db8:e8b1::bad")


class FakeProbe:
    """Bind fails where the kernel would (tentative addresses); the source is preset."""

    def __init__(self, source: IPAddress | None = V6, unbindable: tuple[IPAddress, ...] = ()):
        self._source = source
        self._unbindable = unbindable

    def bind(self, address: IPAddress) -> str | None:
        return "Cannot assign requested address" if address in self._unbindable else None

    def source(self, destination: IPAddress) -> IPAddress:
        if self._source is None:
            raise OSError(101, "Network is unreachable")
        return self._source


def _k(address: IPAddress, flags: int = 0, prefixlen: int | None = None) -> KernelAddress:
    return KernelAddress(
        address=address,
        prefixlen=prefixlen if prefixlen is not None else address.max_prefixlen,
        interface="eth0",
        flags=flags,
    )


EXPECTED = (ExpectedAddress(address=V6), ExpectedAddress(address=V4))
TRUNK = ResolvedTrunk(
    trunk=Trunk(name="sipgate", hosts=(str(PROVIDER),)), providers={"ipv6": (PROVIDER,)}
)


def test_all_present_is_ok() -> None:
    """Both addresses present with host prefixes and the right egress source: no findings."""
    report = assess(EXPECTED, [TRUNK], [_k(V6), _k(V4)], FakeProbe())
    assert report.ok
    assert report.all_required_usable
    assert [e.correct for e in report.egress] == [True]


def test_tentative_is_not_usable() -> None:
    """A tentative address is present but not usable, and that is an error."""
    report = assess(EXPECTED, [], [_k(V6, IFA_F_TENTATIVE), _k(V4)], FakeProbe(unbindable=(V6,)))
    status = report.status_of(V6)
    assert status is not None
    assert (status.present, status.tentative, status.usable, status.state) == (
        True,
        True,
        False,
        "tentative",
    )
    assert not report.all_required_usable
    assert any("tentative" in f.message for f in report.errors)


def test_dadfailed_and_deprecated_flags() -> None:
    """dadfailed makes an address unusable; deprecated keeps it usable with a warning."""
    report = assess(EXPECTED, [], [_k(V6, IFA_F_DADFAILED), _k(V4, IFA_F_DEPRECATED)], FakeProbe())
    v6, v4 = report.status_of(V6), report.status_of(V4)
    assert v6 is not None
    assert v4 is not None
    assert v6.state == "dadfailed"
    assert not v6.usable
    assert v4.usable
    assert v4.deprecated
    assert any("deprecated" in f.message for f in report.warnings)


def test_wrong_prefix_length_warns() -> None:
    """A /64 where the pool gives a /128 is reported as a warning, the address stays usable."""
    report = assess(EXPECTED, [], [_k(V6, prefixlen=64), _k(V4)], FakeProbe())
    assert report.all_required_usable
    assert any("/64" in f.message and "/128" in f.message for f in report.warnings)


def test_optional_missing_is_a_warning() -> None:
    """A missing optional address does not block readiness."""
    expected = (ExpectedAddress(address=V6), ExpectedAddress(address=V4, required=False))
    report = assess(expected, [], [_k(V6)], FakeProbe())
    assert report.all_required_usable
    assert not report.errors
    assert len(report.warnings) == 1


def test_wrong_egress_names_the_selected_source() -> None:
    """Another selected source toward the provider is an error naming that address."""
    report = assess(EXPECTED, [TRUNK], [_k(V6), _k(V4), _k(OTHER)], FakeProbe(source=OTHER))
    (egress,) = report.egress
    assert not egress.correct
    assert egress.selected == OTHER
    assert any(str(OTHER) in f.message and "sipgate" in f.message for f in report.errors)


def test_no_route_is_an_egress_error() -> None:
    """No route toward the provider is an egress error, not a crash."""
    report = assess(EXPECTED, [TRUNK], [_k(V6), _k(V4)], FakeProbe(source=None))
    assert not report.egress[0].correct
    assert any("no route" in f.message for f in report.errors)


def test_unresolvable_trunk_is_an_error_per_family() -> None:
    """A provider name that does not resolve gives an incorrect egress per expected family."""
    trunk = ResolvedTrunk(trunk=Trunk(name="t", hosts=("sip.invalid",)), error="cannot resolve")
    report = assess(EXPECTED, [trunk], [_k(V6), _k(V4)], FakeProbe())
    assert sorted(e.family for e in report.egress) == ["ipv4", "ipv6"]
    assert not any(e.correct for e in report.egress)


def test_expected_ula_warns() -> None:
    """Expecting a ULA address is itself flagged: the provider would see a NATed source."""
    ula = ipaddress.ip_address("fd00:db8::1")
    report = assess([ExpectedAddress(address=ula)], [], [_k(ula)], FakeProbe())
    assert report.all_required_usable
    assert any("ula" in f.message for f in report.warnings)


def test_parse_prefix_length() -> None:
    """ADDR/LEN states the pool's prefix length; a bare address means a host prefix."""
    assert ExpectedAddress.parse("2001:db8::1").expected_prefixlen == 128
    assert ExpectedAddress.parse("203.0.113.10").expected_prefixlen == 32
    assert ExpectedAddress.parse("2001:db8::1/64").expected_prefixlen == 64


def test_one_wrong_host_of_several_makes_the_trunk_wrong() -> None:
    """With several provider hosts, the first one reached from a wrong source is reported."""
    second = ipaddress.ip_address("2001:db8:5060::11")

    class PerHost(FakeProbe):
        def source(self, destination: IPAddress) -> IPAddress:
            return OTHER if destination == second else V6

    trunk = ResolvedTrunk(
        trunk=Trunk(name="sipgate", hosts=(str(PROVIDER), str(second))),
        providers={"ipv6": (PROVIDER, second)},
    )
    report = assess(EXPECTED, [trunk], [_k(V6), _k(V4), _k(OTHER)], PerHost())
    (egress,) = report.egress
    assert (egress.provider, egress.selected, egress.correct) == (second, OTHER, False)
