"""/calls on a real port: JSON pages over the record, bounded, refused outside the allow-list."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from supervisor.http import bound_port, make_app, start
from supervisor.httpaccess import HttpAllow
from supervisor.records.store import RecordStore
from supervisor.records.web import add_calls_route
from tests.supervisor.records.recorded import recorded


async def get(store: RecordStore, query: str, allow: HttpAllow | None = None) -> tuple[int, object]:
    app = make_app(CollectorRegistry(), allow)
    add_calls_route(app, store)
    runner = await start(app, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{bound_port(runner)}/calls{query}"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body
    finally:
        await runner.cleanup()


async def test_pages_newest_first_until_no_next(tmp_path: Path) -> None:
    """Two-call pages walk the four calls newest first; the last page has no `next`."""
    store = recorded(tmp_path)
    seen: list[str] = []
    status, body = await get(store, "?limit=2")
    assert status == 200
    assert isinstance(body, dict)
    seen += [c["id"] for c in body["calls"]]
    status, body = await get(store, f"?limit=2&before={body['next']}")
    assert isinstance(body, dict)
    seen += [c["id"] for c in body["calls"]]
    assert seen == ["1.2", "1.1", "1.7", "1.5"]
    status, body = await get(store, f"?limit=2&before={body['next']}")
    assert body == {"calls": [], "next": None}
    status, body = await get(store, "?since=2w")  # ended in 1970: older than two weeks
    assert body == {"calls": [], "next": None}


async def test_filters_by_number(tmp_path: Path) -> None:
    """`number` selects calls from or to it."""
    status, body = await get(recorded(tmp_path), "?number=%2B4930555")
    assert status == 200
    assert isinstance(body, dict)
    assert [c["from"] for c in body["calls"]] == ["+4930555"]


async def test_bad_parameters_are_400_with_a_reason(tmp_path: Path) -> None:
    """Limits beyond the bound, bad spans, numbers and cursors: 400 naming the parameter."""
    store = recorded(tmp_path)
    for query, word in (
        ("?limit=100000", "limit"),
        ("?limit=x", "invalid literal"),
        ("?since=forever", "since"),
        ("?number=a%27b", "number"),
        ("?before=1~%27", "before"),
    ):
        status, body = await get(store, query)
        assert status == 400, query
        assert isinstance(body, dict)
        assert word in body["error"], query


async def test_unreadable_record_is_503_without_detail(tmp_path: Path) -> None:
    """A record that cannot be read: 503, and no path or SQLite message to the caller."""
    status, body = await get(RecordStore(tmp_path / "none" / "calls.db"), "")
    assert status == 503
    assert body == {"error": "the call record cannot be read now"}


async def test_outside_the_allow_list_is_forbidden(tmp_path: Path) -> None:
    """Personal data: a peer outside the HTTP allow-list gets 403 and no call."""
    status, body = await get(recorded(tmp_path), "", HttpAllow.parse(["2001:db8::/32"]))
    assert status == 403
    assert body is None
