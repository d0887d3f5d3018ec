"""`/calls`: the call history as JSON, newest first, a page at a time (at most MAX_LIMIT calls
per page; `next` is the cursor of the following page). Personal data: private like every route
but the probes (httpaccess: the allow-list), and never logged (the server keeps no access log).

Query: `since` (90s, 30m, 12h, 1d, 2w or an ISO time), `number` (caller or callee), `limit`
(default 50), `before` (a `next` cursor)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from supervisor.records import history
from supervisor.records.store import MAX_LIMIT, RecordError, RecordStore

DEFAULT_LIMIT = 50


def add_calls_route(app: web.Application, store: RecordStore) -> None:
    async def calls(request: web.Request) -> web.Response:
        params = request.query
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError(f"limit: 1 to {MAX_LIMIT}")
            query = history.query(
                since=params.get("since"),
                number=params.get("number"),
                limit=limit,
                before=params.get("before"),
            )
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        try:
            found = await asyncio.to_thread(store.query, query)
        except RecordError:
            return _json({"error": "the call record cannot be read now"}, 503)
        page = {
            "calls": [history.as_dict(r) for r in found],
            "next": history.cursor(found[-1]) if len(found) == query.limit else None,
        }
        return _json(page, 200)

    app.router.add_get("/calls", calls)


def _json(document: object, status: int) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(document) + "\n", content_type="application/json"
    )
