"""The read-only page at `/`: what a person opening the port-forward in a browser wants to see.
Readiness and its checks, trunks, recent calls, messages waiting, one-way-audio calls and blocked
sources, server-rendered from what `/status` and the call record hold (no script, no build
chain, no request of its own to anything else). Private like every route but the probes
(httpaccess); every value is HTML-escaped (caller IDs are whatever a caller sent)."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from supervisor.records import history
from supervisor.records.fold import CallRecord
from supervisor.records.store import Query, RecordError, RecordStore
from supervisor.status import Check, StatusBoard

RECENT: Final = 20

STYLE: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:80em}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f4f4f4}.ok{color:#17692a}.bad{color:#b00020}
.warn{color:#8a5a00}.badge{display:inline-block;padding:.1em .6em;border-radius:.8em;color:#fff}
.badge.ok{background:#17692a}.badge.bad{background:#b00020}.none{color:#777}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="none">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _mark(check: Check) -> str:
    if check.ok:
        return '<span class="ok">ok</span>'
    return (
        '<span class="bad">failing</span>'
        if check.gates_readiness
        else '<span class="warn">warn</span>'
    )


def _list(section: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = section.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [str(x) for x in value] if isinstance(value, list) else []


def _time(epoch: object) -> str:
    if isinstance(epoch, int | float):
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return ""


def render(
    *,
    checks: Sequence[Check],
    sections: Mapping[str, Mapping[str, object]],
    calls: Sequence[CallRecord] | None,
    mailboxes: Mapping[str, tuple[int, int]],
) -> str:
    """The page's HTML (pure). `calls` None: the record could not be read."""
    ready = all(c.ok for c in checks if c.gates_readiness)
    trunks = [c for c in checks if c.name.startswith("trunk registration")]
    others = [c for c in checks if c not in trunks]
    badge = (
        '<span class="badge ok">ready</span>'
        if ready
        else '<span class="badge bad">not ready</span>'
    )
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>PBX {'ready' if ready else 'not ready'}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>PBX {badge}</h1>",
        '<h2 id="trunks">Trunks</h2>',
        _table(
            ("trunk", "registration", ""),
            (
                (
                    _e(c.name.removeprefix("trunk registration").strip() or "-"),
                    _e(c.detail),
                    _mark(c),
                )
                for c in trunks
            ),
            "no trunk registers",
        ),
        '<h2 id="calls">Recent calls</h2>',
    ]
    if calls is None:
        parts.append('<p class="bad">the call record cannot be read now</p>')
    else:
        parts.append(
            _table(
                history.COLUMNS,
                ([_e(cell) for cell in row] for row in history.rows(calls)),
                "no calls yet",
            )
        )
    parts += [
        '<h2 id="voicemail">Messages waiting</h2>',
        _table(
            ("mailbox", "new", "old"),
            ((_e(box), _e(new), _e(old)) for box, (new, old) in sorted(mailboxes.items())),
            "no mailbox, or the counts are not known yet",
        ),
        '<h2 id="phones">Do-not-disturb and forwards</h2>',
        _table(
            ("phone", "do-not-disturb", "forward", "when busy", "when not answered"),
            (
                (
                    _e(p.get("phone", "")),
                    "on" if p.get("dnd") else "",
                    _e(p.get("forward_always", "")),
                    _e(p.get("forward_busy", "")),
                    _e(p.get("forward_noanswer", "")),
                )
                for p in _list(sections.get("phone_features", {}), "phones")
            ),
            "none (or not known yet)",
        ),
        '<h2 id="one-way">One-way audio calls</h2>',
        _table(
            ("direction", "trunk", "silent side", "endpoints", "talk (s)"),
            (
                (
                    _e(c.get("direction", "")),
                    _e(c.get("trunk", "") or "-"),
                    _e(c.get("silent", "")),
                    _e(", ".join(_strings(c.get("silent_endpoints")))),
                    _e(c.get("talk_seconds", "")),
                )
                for c in _list(sections.get("call_quality", {}), "recent_one_way_calls")
            ),
            "none",
        ),
        '<h2 id="blocked">Blocked sources</h2>',
        _table(
            ("source", "since (UTC)", "until (UTC)"),
            (
                (_e(b.get("source", "")), _e(_time(b.get("since"))), _e(_time(b.get("until"))))
                for b in _list(sections.get("security", {}), "blocked")
            ),
            "none",
        ),
        '<h2 id="checks">Checks</h2>',
        _table(
            ("check", "", "detail"), ((_e(c.name), _mark(c), _e(c.detail)) for c in others), "none"
        ),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def add_page_route(
    app: web.Application,
    board: StatusBoard,
    store: RecordStore,
    mailboxes: Callable[[], Mapping[str, tuple[int, int]]],
) -> None:
    async def page(_request: web.Request) -> web.Response:
        calls: list[CallRecord] | None
        try:
            calls = await asyncio.to_thread(store.query, Query(limit=RECENT))
        except RecordError:
            calls = None
        text = render(
            checks=board.checks(), sections=board.sections(), calls=calls, mailboxes=mailboxes()
        )
        # The page is personal data: never cached on the way.
        headers = {
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        }
        return web.Response(text=text, content_type="text/html", headers=headers)

    app.router.add_get("/", page)
