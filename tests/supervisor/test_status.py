"""The status board's structured sections (e.g. the security guard's top offenders) in /status,
as JSON and as text, beside the checks."""

from __future__ import annotations

import json

import aiohttp
from prometheus_client import CollectorRegistry

from supervisor.health import add_health_routes
from supervisor.http import bound_port, make_app, start
from supervisor.status import Check, Heartbeat, StatusBoard


def board() -> StatusBoard:
    b = StatusBoard()
    b.add(lambda: [Check(name="security", ok=True, detail="1 source(s) blocked")])
    b.add_section(
        "security",
        lambda: {
            "top_offenders": [{"address": "198.51.100.66", "failures": 7}],
            "blocked": [],
            "blocked_total": 1,
        },
    )
    return b


async def test_sections_are_served_as_json_and_text() -> None:
    """/status?format=json carries each section under its name; the text form lists them."""
    app = make_app(CollectorRegistry())
    add_health_routes(app, board(), Heartbeat())
    runner = await start(app, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{bound_port(runner)}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/status?format=json") as resp:
                data = json.loads(await resp.text())
            async with session.get(f"{base}/status") as resp:
                text = await resp.text()
    finally:
        await runner.cleanup()
    assert data["security"]["top_offenders"] == [{"address": "198.51.100.66", "failures": 7}]
    assert data["checks"][0]["name"] == "security"
    assert "security:\n  top_offenders:\n" in text
    assert '{"address": "198.51.100.66", "failures": 7}' in text
    assert "  blocked: none\n" in text
    assert "  blocked_total: 1\n" in text
