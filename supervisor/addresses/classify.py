"""Which addresses the provider's ACL can see as they are, and which will be NATed on the way out.

Written against explicit prefixes rather than `ipaddress`'s `is_private`, which also calls the
documentation prefixes (2001:db8::/32, 203.0.113.0/24) private: here they stand for global
addresses, since the lab and the docs use them as such.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from supervisor.addresses.model import Family, IPAddress, KernelAddress, Scope

_NETS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Scope], ...] = (
    (ipaddress.ip_network("::1/128"), Scope.LOOPBACK),
    (ipaddress.ip_network("127.0.0.0/8"), Scope.LOOPBACK),
    # RFC 4193 reserves fc00::/7; only fd00::/8 is in use, but fc00::/8 is no more routable.
    (ipaddress.ip_network("fc00::/7"), Scope.ULA),
    (ipaddress.ip_network("fe80::/10"), Scope.LINK_LOCAL),
    (ipaddress.ip_network("169.254.0.0/16"), Scope.LINK_LOCAL),
    (ipaddress.ip_network("10.0.0.0/8"), Scope.PRIVATE),
    (ipaddress.ip_network("172.16.0.0/12"), Scope.PRIVATE),
    (ipaddress.ip_network("192.168.0.0/16"), Scope.PRIVATE),
    (ipaddress.ip_network("100.64.0.0/10"), Scope.CGNAT),
    (ipaddress.ip_network("0.0.0.0/8"), Scope.OTHER),
    (ipaddress.ip_network("::/128"), Scope.OTHER),
    (ipaddress.ip_network("ff00::/8"), Scope.OTHER),
    (ipaddress.ip_network("224.0.0.0/4"), Scope.OTHER),
)

NAT_WARNING = "outbound traffic will be NATed; the provider's ACL will see another address"


def classify(address: IPAddress) -> Scope:
    """The scope of one address; anything not listed is taken as globally routable."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return classify(address.ipv4_mapped)
    for net, scope in _NETS:
        if address.version == net.version and address in net:
            return scope
    return Scope.GLOBAL


def nat_warning(family: Family, present: Iterable[KernelAddress]) -> str | None:
    """The warning for a family the trunks use whose only addresses are not globally routable.

    None when the family has a global address (the expected one is checked separately) or has
    no address at all (then the missing expected address is the error to report).
    """
    wanted = 6 if family == "ipv6" else 4
    candidates = [
        a
        for a in present
        if a.address.version == wanted and classify(a.address) is not Scope.LOOPBACK
    ]
    if not candidates or any(classify(a.address) is Scope.GLOBAL for a in candidates):
        return None
    listed = ", ".join(
        f"{a.address} ({classify(a.address).value}, {a.interface})" for a in candidates
    )
    return f"{family}: only {listed}: {NAT_WARNING}"
