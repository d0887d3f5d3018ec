"""`resolve`: a checked site becomes a typed `ResolvedSite`; an unchecked one is refused."""

from __future__ import annotations

import pytest

from supervisor.site.model import Addresses, Endpoint, Site, Trunk
from supervisor.site.resolve import ResolvedSite, Unchecked, resolve


def test_resolve_fills_the_wiring() -> None:
    """Default transports, each trunk's family/transport/port and each endpoint's family."""
    site = Site(
        addresses=Addresses(ipv6="2001:db8::1", ipv4="198.51.100.1"),
        trunks={"acme": Trunk(hosts=("203.0.113.5",))},
        endpoints={"door": Endpoint(identify=("198.51.100.7",), family="ipv4")},
    )
    resolved = resolve(site)
    assert isinstance(resolved, ResolvedSite)
    assert set(resolved.transports) == {"udp6", "udp4"}
    assert (resolved.trunk_family("acme"), resolved.trunk_transport("acme")) == ("ipv4", "udp4")
    assert resolved.trunk_port("acme") == 5060
    assert resolved.trunks["acme"].identify == ("203.0.113.5",)
    assert resolved.endpoint_family("door") == "ipv4"
    assert resolved.endpoints["door"].transport == "udp4"
    assert resolved.mailboxes() == {}


def test_resolve_refuses_what_the_check_would() -> None:
    """A trunk whose family cannot be told (host names only) raises Unchecked, not an assert."""
    site = Site(
        addresses=Addresses(ipv6="2001:db8::1"),
        trunks={"acme": Trunk(hosts=("sip.example.org",))},
    )
    with pytest.raises(Unchecked, match="trunk acme"):
        resolve(site)
