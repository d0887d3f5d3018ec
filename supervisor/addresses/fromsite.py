"""Expected addresses and trunks from the site model, overridable by settings.

Typed against Protocols of the few fields used, so this package does not depend on the site
package's internals: `site.addresses.ipv6/.ipv4` (the pod's Calico-pool addresses, each one
Asterisk binds a transport to, hence required) and `site.trunks` (name -> hosts, family).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Protocol

from supervisor.addresses.model import ExpectedAddress, Family, Trunk


class SiteAddresses(Protocol):
    @property
    def ipv6(self) -> str | None: ...

    @property
    def ipv4(self) -> str | None: ...


class SiteTrunk(Protocol):
    @property
    def hosts(self) -> tuple[str, ...]: ...

    @property
    def family(self) -> Family | None: ...


class SiteLike(Protocol):
    @property
    def addresses(self) -> SiteAddresses: ...

    @property
    def trunks(self) -> Mapping[str, SiteTrunk]: ...


def expected_from_site(
    site: SiteLike, override: Sequence[ExpectedAddress] = ()
) -> tuple[tuple[ExpectedAddress, ...], tuple[Trunk, ...]]:
    """The site's addresses (or `override`, when given) and its trunks."""
    if override:
        expected = tuple(override)
    else:
        expected = tuple(
            ExpectedAddress(address=ipaddress.ip_address(text))
            for text in (site.addresses.ipv6, site.addresses.ipv4)
            if text is not None
        )
    trunks = tuple(
        Trunk(name=name, hosts=tuple(trunk.hosts), family=trunk.family)
        for name, trunk in site.trunks.items()
    )
    return expected, trunks
