"""The policy settings a site asks for: its `security:` section, plus the sources never to
block: every trunk host given as an IP, every trunk's and device's `identify` network, the
allow-list, the pod's own addresses and loopback (the pod's own processes)."""

from __future__ import annotations

import ipaddress

from supervisor.security.events import IPNetwork
from supervisor.security.policy import PolicySettings
from supervisor.site.grammar import family_of
from supervisor.site.model import Site


def exempt_networks(site: Site) -> tuple[IPNetwork, ...]:
    found: list[str] = []
    for trunk in site.trunks.values():
        found += [h for h in trunk.hosts if family_of(h) is not None]
        found += trunk.identify or ()
    for endpoint in site.endpoints.values():
        found += endpoint.identify
    found += site.security.allow
    found += [a for a in (site.addresses.ipv6, site.addresses.ipv4) if a is not None]
    found += ["127.0.0.0/8", "::1"]
    networks = {ipaddress.ip_network(n, strict=False) for n in found}
    return tuple(sorted(networks, key=lambda n: (n.version, n)))


def policy_settings(site: Site) -> PolicySettings:
    sec = site.security
    return PolicySettings(
        block=sec.block,
        max_failures=sec.max_failures,
        window=float(sec.window),
        ban_time=float(sec.ban_time),
        max_bans=sec.max_bans,
        ipv6_prefix=sec.ipv6_prefix,
        exempt=exempt_networks(site),
    )
