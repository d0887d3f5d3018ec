"""The HTTP app serves /metrics from the registry it is given, on a real port."""

from __future__ import annotations

import aiohttp
from prometheus_client import CollectorRegistry, Gauge

from supervisor.http import bound_port, make_app, start


async def test_metrics_served_from_private_registry() -> None:
    """GET /metrics returns the given registry's exposition as Prometheus text 0.0.4."""
    registry = CollectorRegistry()
    Gauge("asterisk_supervisor_test_gauge", "A gauge.", registry=registry).set(3)
    runner = await start(make_app(registry), "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{bound_port(runner)}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            body = await resp.text()
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    finally:
        await runner.cleanup()
    assert "asterisk_supervisor_test_gauge 3.0" in body
    assert "python_gc" not in body  # not the global registry


async def test_the_ipv6_wildcard_also_serves_ipv4() -> None:
    """Listening on [::] (the default) answers on 127.0.0.1 and ::1: kubelet may probe IPv4."""
    runner = await start(make_app(CollectorRegistry()), "::", 0)
    try:
        port = bound_port(runner)
        async with aiohttp.ClientSession() as session:
            for host in ("127.0.0.1", "[::1]"):
                async with session.get(f"http://{host}:{port}/metrics") as resp:
                    assert resp.status == 200, host
    finally:
        await runner.cleanup()
