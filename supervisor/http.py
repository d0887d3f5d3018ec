"""The supervisor's HTTP server: an aiohttp app factory and a runner helper.

`/metrics` renders the private CollectorRegistry it is given (never the global one); the probe
and status routes are added by their owners (`health.add_health_routes(app, ...)`).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client.registry import CollectorRegistry

from supervisor.metrics.exposition import CONTENT_TYPE, render


def make_app(registry: CollectorRegistry) -> web.Application:
    """An application serving `/metrics` from `registry`."""

    async def metrics(_request: web.Request) -> web.Response:
        # Rendering is synchronous and short (<50 ms at 10,000 endpoints, see bench/): running it
        # on the loop avoids a thread hop and keeps the state consistent within one scrape.
        body = render(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port (port 0 picks a free one: see `bound_port`). The caller owns the
    returned runner and awaits `runner.cleanup()` at shutdown."""
    # handle_signals=False: signals belong to the composition root, not to the HTTP server.
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await asyncio.shield(runner.cleanup())
        raise
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port the runner's first site listens on (for port 0)."""
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("the HTTP runner has no listening socket")
