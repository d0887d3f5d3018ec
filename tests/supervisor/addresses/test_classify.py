"""Classification of addresses and the NAT warning, without root."""

from __future__ import annotations

import ipaddress

import pytest

from supervisor.addresses.classify import NAT_WARNING, classify, nat_warning
from supervisor.addresses.model import KernelAddress, Scope


def _k(text: str, interface: str = "eth0") -> KernelAddress:
    address = ipaddress.ip_address(text)
    return KernelAddress(address=address, prefixlen=address.max_prefixlen, interface=interface)


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("2001:db8:e8b1::1:1", Scope.GLOBAL),
        ("203.0.113.10", Scope.GLOBAL),
        ("198.51.100.20", Scope.GLOBAL),
        ("2a01:4f8::1", Scope.GLOBAL),
        ("fd00:db8::1", Scope.ULA),
        ("fc00::1", Scope.ULA),
        ("fe80::1", Scope.LINK_LOCAL),
        ("169.254.1.1", Scope.LINK_LOCAL),
        ("10.1.2.3", Scope.PRIVATE),
        ("172.16.0.1", Scope.PRIVATE),
        ("172.31.255.254", Scope.PRIVATE),
        ("192.168.1.1", Scope.PRIVATE),
        ("100.64.0.1", Scope.CGNAT),
        ("100.127.255.254", Scope.CGNAT),
        ("100.128.0.1", Scope.GLOBAL),
        ("172.32.0.1", Scope.GLOBAL),
        ("::ffff:10.0.0.1", Scope.PRIVATE),
        ("::1", Scope.LOOPBACK),
        ("127.0.0.1", Scope.LOOPBACK),
    ],
)
def test_classify(text: str, scope: Scope) -> None:
    """Each address lands in its scope; documentation prefixes count as global."""
    assert classify(ipaddress.ip_address(text)) is scope


def test_ula_and_link_local_only_warns_about_nat() -> None:
    """A family with only ULA and link-local addresses gets the NAT warning naming them."""
    warning = nat_warning("ipv6", [_k("::1", "lo"), _k("fd00:db8::1"), _k("fe80::1")])
    assert warning is not None
    assert NAT_WARNING in warning
    assert "fd00:db8::1 (ula, eth0)" in warning
    assert "fe80::1 (link-local, eth0)" in warning


@pytest.mark.parametrize("text", ["10.0.0.5", "172.20.1.1", "192.168.0.9", "100.64.3.3"])
def test_private_or_cgnat_ipv4_only_warns(text: str) -> None:
    """An IPv4 family with only an RFC 1918 or CGNAT address gets the NAT warning."""
    warning = nat_warning("ipv4", [_k("127.0.0.1", "lo"), _k(text)])
    assert warning is not None
    assert text in warning


def test_a_global_address_silences_the_warning() -> None:
    """A global address beside a ULA one means no NAT warning for that family."""
    assert nat_warning("ipv6", [_k("fd00:db8::1"), _k("2001:db8:e8b1::1:1")]) is None


def test_other_family_and_no_address_give_no_warning() -> None:
    """Only the asked family counts, and an empty family is left to the missing-address error."""
    assert nat_warning("ipv4", [_k("fd00:db8::1")]) is None
    assert nat_warning("ipv6", [_k("::1", "lo")]) is None
