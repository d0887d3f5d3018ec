"""Probe and status routes: /healthz (our loop), /readyz (the PBX can take calls), /status.
The probes answer anyone (httpaccess.PUBLIC_PATHS); /status only the allow-list."""

from __future__ import annotations

import json

from aiohttp import web

from supervisor.httpaccess import trusted
from supervisor.status import Heartbeat, StatusBoard


def add_health_routes(app: web.Application, board: StatusBoard, heartbeat: Heartbeat) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        age = heartbeat.age()
        if heartbeat.alive():
            return web.Response(text=f"ok (loop ticked {age:.1f} s ago)\n")
        return web.Response(status=503, text=f"event loop stalled ({age:.1f} s since last tick)\n")

    async def readyz(request: web.Request) -> web.Response:
        failing = [c for c in board.checks() if c.gates_readiness and not c.ok]
        if not failing:
            return web.Response(text="ready\n")
        text = "not ready\n"
        if trusted(request):  # the reasons name trunks, addresses, files: not for the public
            text += "".join(f"{c.name}: {c.detail}\n" for c in failing)
        return web.Response(status=503, text=text)

    async def status(request: web.Request) -> web.Response:
        wants_json = request.query.get("format") == "json" or (
            "application/json" in request.headers.get("Accept", "")
        )
        code = 200 if board.ready() else 503
        if wants_json:
            return web.Response(
                status=code,
                text=json.dumps(board.as_dict(), indent=2) + "\n",
                content_type="application/json",
            )
        return web.Response(status=code, text=board.as_text())

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/status", status)
