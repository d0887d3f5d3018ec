"""The HTTP allow-list: private routes (/status, /metrics, any other) answer only its networks,
judged on the TCP peer; the probes answer anyone and tell an outsider nothing but ok / not ready.
Real sockets on loopback: a caller outside the list is loopback with an allow-list without it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from supervisor.health import add_health_routes
from supervisor.http import bound_port, make_app, start
from supervisor.httpaccess import DEFAULT_ALLOW, HttpAllow, trusted
from supervisor.status import Check, Heartbeat, StatusBoard

SECRET_DETAIL = "trunk pod1 rejected by 2001:db8:e8b1::99"


def failing_board() -> StatusBoard:
    board = StatusBoard()
    board.add(lambda: [Check(name="trunk", ok=False, detail=SECRET_DETAIL)])
    return board


async def serve(allow: HttpAllow | None, host: str = "127.0.0.1") -> web.AppRunner:
    app = make_app(CollectorRegistry(), allow)
    add_health_routes(app, failing_board(), Heartbeat())

    async def personal(request: web.Request) -> web.Response:
        return web.Response(text=f"calls; trusted={trusted(request)}\n")

    app.router.add_get("/calls", personal)  # a route added later by another part: private too
    return await start(app, host, 0)


@pytest.fixture
async def outsider() -> AsyncIterator[str]:
    """A server whose allow-list leaves out loopback: every test request is from outside."""
    runner = await serve(HttpAllow.parse(["10.0.0.0/8", "2001:db8::/32"]))
    try:
        yield f"http://127.0.0.1:{bound_port(runner)}"
    finally:
        await runner.cleanup()


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


@pytest.mark.parametrize("path", ["/status", "/status?format=json", "/metrics", "/calls", "/nope"])
async def test_private_routes_refuse_a_caller_outside_the_list(outsider: str, path: str) -> None:
    """Outside the list: 403 with nothing in it, for every route but the probes (unknown too)."""
    status, body = await get(outsider + path)
    assert (status, body) == (403, "forbidden\n")


async def test_a_forwarded_header_does_not_make_a_caller_trusted(outsider: str) -> None:
    """Only the TCP peer counts: X-Forwarded-For / X-Real-IP written by the caller are ignored."""
    headers = {"X-Forwarded-For": "10.1.2.3", "X-Real-IP": "10.1.2.3", "Forwarded": "for=10.1.2.3"}
    assert (await get(outsider + "/metrics", headers))[0] == 403


async def test_probes_answer_anyone_and_reveal_nothing_outside(outsider: str) -> None:
    """/healthz and /readyz answer a caller outside the list; /readyz without its reasons."""
    assert (await get(outsider + "/healthz"))[0] == 200
    status, body = await get(outsider + "/readyz")
    assert (status, body) == (503, "not ready\n")


async def test_the_default_list_serves_loopback_over_both_families() -> None:
    """Default list, dual-stack listener: 127.0.0.1 (seen as ::ffff:127.0.0.1) and ::1 read
    everything, and /readyz gives them its reasons."""
    runner = await serve(None, host="::")
    try:
        port = bound_port(runner)
        for host in ("127.0.0.1", "[::1]"):
            base = f"http://{host}:{port}"
            assert (await get(base + "/metrics"))[0] == 200, host
            assert (await get(base + "/status"))[0] == 503, host  # served: the board is failing
            assert await get(base + "/calls") == (200, "calls; trusted=True\n"), host
            assert SECRET_DETAIL in (await get(base + "/readyz"))[1], host
    finally:
        await runner.cleanup()


def test_the_default_list_holds_no_public_address() -> None:
    """Default: loopback, RFC 1918, RFC 6598, ULA; no global address of either family, no
    documentation prefix the lab uses for the pod or attackers."""
    allow = HttpAllow.default()
    for inside in ("127.0.0.1", "::1", "10.244.1.7", "172.20.0.3", "192.168.1.2", "fd12::7"):
        assert allow.permits(ipaddress.ip_address(inside)), inside
    for outside in ("8.8.8.8", "2001:4860::8888", "2001:db8:e8b1::1:1", "203.0.113.10", "fe80::1"):
        assert not allow.permits(ipaddress.ip_address(outside)), outside
    assert not allow.permits(None)
    assert len(allow.networks) == len(DEFAULT_ALLOW)


def test_a_bad_network_is_named() -> None:
    """A typo in --http-allow is a ValueError naming it."""
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        HttpAllow.parse(["10.0.0.0/8", "10.0.0.0/33"])
