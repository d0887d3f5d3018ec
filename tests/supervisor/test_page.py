"""The page at `/`: server-rendered from the status board and the call record, escaped, private,
and shown by a real headless Chromium (Debian's) as a person would see it."""

from __future__ import annotations

import asyncio
import shutil
import struct
import tempfile
import zlib
from dataclasses import replace
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from supervisor.http import bound_port, make_app, start
from supervisor.httpaccess import HttpAllow
from supervisor.page import add_page_route, render
from supervisor.records.store import Query
from supervisor.status import Check, StatusBoard
from tests.supervisor.records.cel import TRUNKS, row
from tests.supervisor.records.recorded import recorded, write

HOSTILE = '"><script>document.title=2</script>'
GREEN = (0x17, 0x69, 0x2A)  # the "ready" badge


def board() -> StatusBoard:
    b = StatusBoard()
    b.add(
        lambda: [
            Check(name="ami", ok=True, detail="logged in to 127.0.0.1:5038"),
            Check(
                name="trunk registration provider",
                ok=True,
                detail="Registered",
                gates_readiness=False,
            ),
        ]
    )
    b.add_section(
        "call_quality",
        lambda: {
            "recent_one_way_calls": [
                {
                    "direction": "internal",
                    "trunk": "",
                    "silent": "caller",
                    "silent_endpoints": ["doorbell"],
                    "talk_seconds": 4.2,
                }
            ]
        },
    )
    b.add_section(
        "security",
        lambda: {"blocked": [{"source": "2001:db8:bad::/64", "since": 0.0, "until": 3600.0}]},
    )
    return b


def test_every_value_is_escaped(tmp_path: Path) -> None:
    """A caller ID carrying HTML and script reaches the page as text, never as markup."""
    store = recorded(tmp_path)
    call = replace(store.query(Query(limit=1))[0], caller=HOSTILE)
    text = render(checks=[], sections={}, calls=[call], mailboxes={HOSTILE: (1, 0)})
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    broken = render(checks=[], sections={}, calls=None, mailboxes={})
    assert "the call record cannot be read now" in broken


def test_phone_features_are_a_table() -> None:
    """Each phone with DND or a forward is a row: name, on, the numbers (escaped)."""
    phones = {"known": True, "phones": [{"phone": "desk", "dnd": True, "forward_busy": HOSTILE}]}
    text = render(checks=[], sections={"phone_features": phones}, calls=[], mailboxes={})
    row = text.split('<h2 id="phones">', 1)[1].split("</table>", 1)[0]
    assert "<td>desk</td><td>on</td><td></td><td>&quot;&gt;&lt;script&gt;" in row
    empty = render(checks=[], sections={}, calls=[], mailboxes={})
    assert "none (or not known yet)" in empty.split('<h2 id="phones">', 1)[1]


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA non-interlaced PNG (what Chromium
    writes), decoded with the standard library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                cur[i] = (cur[i] + a) & 255
            elif kind == 2:
                cur[i] = (cur[i] + b) & 255
            elif kind == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(b for i, b in enumerate(cur) if i % channels < 3))
        prev = cur
    return width, height, rows


async def chromium(url: str, *args: str) -> bytes:
    """Debian's Chromium, headless, on `url`: its stdout (e.g. --dump-dom)."""
    with tempfile.TemporaryDirectory() as profile:
        process = await asyncio.create_subprocess_exec(
            shutil.which("chromium") or "chromium",
            "--headless",
            "--no-sandbox",  # root in CI; the page is ours
            "--disable-gpu",
            f"--user-data-dir={profile}",
            *args,
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), 90)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    assert process.returncode == 0
    return out


async def test_the_page_in_chromium(tmp_path: Path) -> None:
    """Chromium renders the page: title, each section with its data (a call, a mailbox, a
    one-way call, a ban), no script ran, and the screenshot shows the green ready badge."""
    store = recorded(tmp_path)
    write(store, [row("CHAN_START", 99.0, "9.9", "9.9", "PJSIP/desk-1", num=HOSTILE, exten="11")])
    write(store, [row("LINKEDID_END", 99.5, "9.9", "9.9", "PJSIP/desk-1")])
    assert len(store.fold_ended(TRUNKS)) == 1
    app = make_app(CollectorRegistry())
    add_page_route(app, board(), store, lambda: {"desk": (2, 1)})
    runner = await start(app, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{bound_port(runner)}/"
        dom = (await chromium(url, "--dump-dom")).decode()
        shot = tmp_path / "page.png"
        await chromium(url, f"--screenshot={shot}", "--window-size=1000,900")
    finally:
        await runner.cleanup()
    assert "<title>PBX ready</title>" in dom  # an injected script would have changed it
    for heading in ("Trunks", "Recent calls", "Messages waiting", "One-way audio calls"):
        assert f">{heading}</h2>" in dom
    assert "Blocked sources" in dom
    assert "+4930555" in dom  # the inbound call's caller
    assert "2001:db8:bad::/64" in dom
    assert "doorbell" in dom
    assert "&lt;script&gt;" in dom
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 900)
    green = bytes(GREEN)
    top = b"".join(rows[:80])
    assert any(top[i : i + 3] == green for i in range(0, len(top), 3)), "no ready badge"


async def test_the_page_is_private(tmp_path: Path) -> None:
    """Outside the HTTP allow-list the page is refused (it lists calls: personal data)."""
    app = make_app(CollectorRegistry(), HttpAllow.parse(["2001:db8::/32"]))
    add_page_route(app, board(), recorded(tmp_path), dict)
    runner = await start(app, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{bound_port(runner)}/"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            assert resp.status == 403
            assert "+4930555" not in await resp.text()
    finally:
        await runner.cleanup()
