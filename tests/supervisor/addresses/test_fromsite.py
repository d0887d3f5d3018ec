"""Expected addresses and trunks taken from a site model, without root."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from supervisor.addresses import ExpectedAddress
from supervisor.addresses.fromsite import expected_from_site
from supervisor.addresses.model import Family


@dataclass(frozen=True)
class Addresses:
    ipv6: str | None = None
    ipv4: str | None = None


@dataclass(frozen=True)
class SiteTrunk:
    hosts: tuple[str, ...]
    family: Family | None = None


@dataclass(frozen=True)
class Site:
    addresses: Addresses
    trunks: dict[str, SiteTrunk] = field(default_factory=dict)


SITE = Site(
    addresses=Addresses(ipv6="2001:db8:e8b1::1:1", ipv4="203.0.113.10"),
    trunks={"provider": SiteTrunk(hosts=("2001:db8:5060::10", "sip.example.net"), family="ipv6")},
)


def test_site_addresses_are_required_host_prefixes() -> None:
    """Both site addresses are expected, required, as /128 and /32; trunks keep hosts and family."""
    expected, trunks = expected_from_site(SITE)
    assert [(str(e.address), e.required, e.expected_prefixlen) for e in expected] == [
        ("2001:db8:e8b1::1:1", True, 128),
        ("203.0.113.10", True, 32),
    ]
    assert [(t.name, t.hosts, t.family) for t in trunks] == [
        ("provider", ("2001:db8:5060::10", "sip.example.net"), "ipv6")
    ]


def test_settings_override_the_site_addresses() -> None:
    """Expected addresses given in the settings replace the site's."""
    override = [ExpectedAddress(address=ipaddress.ip_address("2001:db8:e8b1::2"))]
    expected, _ = expected_from_site(SITE, override)
    assert expected == tuple(override)


def test_ipv6_only_site() -> None:
    """A site without an IPv4 address expects only the IPv6 one."""
    expected, _ = expected_from_site(Site(addresses=Addresses(ipv6="2001:db8:e8b1::1:1")))
    assert [e.family for e in expected] == ["ipv6"]
