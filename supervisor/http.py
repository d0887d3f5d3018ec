"""The supervisor's HTTP server: an aiohttp app factory and a runner helper.

`/metrics` renders the private CollectorRegistry it is given (never the global one); the probe
and status routes are added by their owners (`health.add_health_routes(app, ...)`). Every route
but the probes answers only the allow-list's networks (httpaccess.py).
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web
from prometheus_client.registry import CollectorRegistry

from supervisor.httpaccess import HttpAllow, protect
from supervisor.metrics.exposition import CONTENT_TYPE, render


def make_app(registry: CollectorRegistry, allow: HttpAllow | None = None) -> web.Application:
    """An application serving `/metrics` from `registry`, its private routes to `allow` only
    (default: loopback and private ranges, httpaccess.DEFAULT_ALLOW)."""

    async def metrics(_request: web.Request) -> web.Response:
        # Rendering is synchronous and short (<50 ms at 10,000 endpoints, see bench/): running it
        # on the loop avoids a thread hop and keeps the state consistent within one scrape.
        body = render(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    protect(app, allow if allow is not None else HttpAllow.default())
    app.router.add_get("/metrics", metrics)
    return app


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port (port 0 picks a free one: see `bound_port`). The caller owns the
    returned runner and awaits `runner.cleanup()` at shutdown."""
    # handle_signals=False: signals belong to the composition root, not to the HTTP server.
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site: web.BaseSite
        if host == "::":
            site = web.SockSite(runner, dual_stack_socket(port))
        else:
            site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await asyncio.shield(runner.cleanup())
        raise
    return runner


def dual_stack_socket(port: int) -> socket.socket:
    """A listener on the IPv6 wildcard that takes IPv4 too. asyncio sets IPV6_V6ONLY on every
    IPv6 listener it makes, so `[::]:8080` alone would refuse a kubelet probing the pod's IPv4
    address and a Prometheus scraping over IPv4 (measured in the image: connection refused)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bound_port(runner: web.AppRunner) -> int:
    """The port the runner's first site listens on (for port 0)."""
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("the HTTP runner has no listening socket")
