"""Who may read the supervisor's HTTP port: an allow-list of networks, applied to the peer of
the TCP connection (never to a header a caller writes).

The pod's addresses are public, and `--http-listen [::]:8080` binds them too: without a check,
`/status` and `/metrics` (trunk and mailbox names, offenders, certificate fingerprints, call
counts) would be readable from the internet whenever no NetworkPolicy is applied. So every
route is private unless it is one of the probes: `/healthz` and `/readyz` answer any address
(the kubelet may probe from a node's public address) and say nothing but ok / not ready to a
caller outside the list. A new route (e.g. a personal-data endpoint) is private without doing
anything; a handler that shows more to trusted callers asks `trusted(request)`.

The default list holds what cannot come from the internet: loopback, RFC 1918, the shared
address space of RFC 6598 (some clusters' pod networks), and IPv6 unique local addresses. A
cluster whose pod network is globally routable IPv6 gives its pod CIDR with `--http-allow`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_ALLOW: Final[tuple[str, ...]] = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
)

#: The probes: reachable from anywhere, reveal nothing beyond ok / not ready to the public.
PUBLIC_PATHS: Final[frozenset[str]] = frozenset({"/healthz", "/readyz"})

FORBIDDEN_TEXT: Final = "forbidden\n"


@dataclass(frozen=True)
class HttpAllow:
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, values: Iterable[str]) -> HttpAllow:
        """Networks as written (`10.0.0.0/8`, `2001:db8::/48`, a bare address); ValueError
        names the bad one."""
        networks = []
        for value in values:
            try:
                networks.append(ipaddress.ip_network(value.strip(), strict=False))
            except ValueError:
                raise ValueError(f"not an address or network: {value!r}") from None
        return cls(tuple(networks))

    @classmethod
    def default(cls) -> HttpAllow:
        return cls.parse(DEFAULT_ALLOW)

    def permits(self, address: IPAddress | None) -> bool:
        # A handful of networks: a linear scan is cheaper than anything cleverer.
        return address is not None and any(address in n for n in self.networks)


ALLOW_KEY: Final = web.AppKey("http_allow", HttpAllow)


def peer_address(request: web.Request) -> IPAddress | None:
    """The connection's peer; an IPv4 client of the dual-stack listener (`::ffff:a.b.c.d`) as
    the IPv4 address it is, an IPv6 zone dropped. None for a non-IP transport."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return None
    try:
        address = ipaddress.ip_address(peer[0].split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def trusted(request: web.Request) -> bool:
    """Whether the caller may read private routes (the app's allow-list; none set: nobody)."""
    allow = request.app.get(ALLOW_KEY)
    return allow is not None and allow.permits(peer_address(request))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Deny by default: only the probes are public. Routing ran before middlewares, so an
    unknown path is refused like a private one (nothing is learnt by probing paths)."""
    resource = request.match_info.route.resource
    public = resource is not None and resource.canonical in PUBLIC_PATHS
    if public or trusted(request):
        return await handler(request)
    return web.Response(status=403, text=FORBIDDEN_TEXT)


def protect(app: web.Application, allow: HttpAllow) -> None:
    """Put `app` behind `allow` (before it starts: middlewares are frozen then)."""
    app[ALLOW_KEY] = allow
    app.middlewares.append(guard)
