"""The AMI reader is bounded and linear: over-cap peers and non-AMI peers are closed and counted,
UTF-8 split across reads survives, only new bytes are scanned. A scripted peer on a real socket
plays the other side (a real Asterisk cannot be made to misbehave like this)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from supervisor.ami.protocol import AmiProtocol
from supervisor.ami.state import AsteriskState
from supervisor.metrics.asterisk import AsteriskCollector

GREETING = b"Asterisk Call Manager/9.0.0\r\n"
Script = Callable[[asyncio.StreamWriter], Awaitable[None]]


async def connect(
    script: Script, *, cap: int = 64 * 1024
) -> tuple[AmiProtocol, AsteriskState, list[dict[str, str]], asyncio.Event]:
    """Serve `script` on 127.0.0.1 (port 0), connect an AmiProtocol, wait until it is lost."""
    peer_saw_eof = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(writer)
            await reader.read()  # until the protocol closes the connection
            peer_saw_eof.set()
        except (ConnectionError, OSError):
            peer_saw_eof.set()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state = AsteriskState()
    events: list[dict[str, str]] = []
    loop = asyncio.get_running_loop()
    try:
        _, proto = await loop.create_connection(
            lambda: AmiProtocol(
                events.append, lambda *_: None, state.protocol_error, max_message_bytes=cap
            ),
            "127.0.0.1",
            port,
        )
        async with asyncio.timeout(10):
            await proto.lost
    finally:
        server.close()
        await server.wait_closed()
    return proto, state, events, peer_saw_eof


def errors_metric(state: AsteriskState, reason: str) -> float | None:
    registry = CollectorRegistry()
    registry.register(AsteriskCollector(state))
    return registry.get_sample_value(
        "asterisk_supervisor_ami_protocol_errors_total", {"reason": reason}
    )


async def test_non_ami_peer_is_closed_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    """A peer that greets as something else is logged as not AMI, counted, disconnected."""

    async def ssh(writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\x1b[2J\r\nEvent: FullyBooted\r\n\r\n")
        await writer.drain()

    with caplog.at_level(logging.WARNING, logger="supervisor.ami.protocol"):
        proto, state, events, eof = await connect(ssh)
    assert proto.protocol_error == "not_ami"
    assert events == []
    assert errors_metric(state, "not_ami") == 1
    assert errors_metric(state, "message_too_large") == 0
    assert "not an Asterisk manager" in caplog.text
    assert "\x1b" not in caplog.text
    await asyncio.wait_for(eof.wait(), 5)


async def test_silent_greeting_flood_is_not_ami() -> None:
    """Bytes without any line end are not a greeting: closed after a short bound."""

    async def flood(writer: asyncio.StreamWriter) -> None:
        writer.write(b"x" * 10_000)
        await writer.drain()

    proto, state, _, _ = await connect(flood)
    assert proto.protocol_error == "not_ami"
    assert errors_metric(state, "not_ami") == 1


async def test_message_over_the_cap_disconnects_with_bounded_memory() -> None:
    """A message that never ends is cut off at the cap: counted, closed, buffer released."""
    cap = 64 * 1024

    async def endless(writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING + b"Event: Foo\r\nData: ")
        for _ in range(64):  # 2 MiB in all, far past the cap
            writer.write(b"y" * 32 * 1024)
            await writer.drain()

    proto, state, events, eof = await connect(endless, cap=cap)
    assert proto.protocol_error == "message_too_large"
    assert errors_metric(state, "message_too_large") == 1
    assert len(proto._buffer) == 0
    assert events == []
    await asyncio.wait_for(eof.wait(), 5)


async def test_utf8_character_split_across_reads_survives() -> None:
    """A multi-byte character cut between two TCP segments arrives whole."""
    name = "Küche ☎".encode()
    cut = name.index("☎".encode()) + 1

    async def split(writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING + b"Event: Test\r\nName: " + name[:cut])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(name[cut:] + b"\r\n\r\nEvent: Next\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    proto, _, events, _ = await connect(split)
    assert proto.protocol_error is None
    assert events == [{"Event": "Test", "Name": "Küche ☎"}, {"Event": "Next"}]


class _Transport:
    """Just enough of a transport for feeding the protocol directly."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return None

    def write(self, data: bytes) -> None:
        pass


async def test_reader_scans_each_byte_a_bounded_number_of_times() -> None:
    """Fed in tiny pieces, a long message is scanned in time linear in its size."""
    events: list[dict[str, str]] = []
    proto = AmiProtocol(events.append, lambda *_: None)
    proto.connection_made(_Transport())
    message = GREETING + b"Event: Big\r\nData: " + b"z" * 200_000 + b"\r\n\r\n"
    for i in range(0, len(message), 7):
        proto.data_received(message[i : i + 7])
    assert events == [{"Event": "Big", "Data": "z" * 200_000}]
    assert proto.bytes_scanned <= 2 * len(message)


async def test_a_flood_of_events_leaves_turns_to_other_tasks() -> None:
    """1 MB of events sent at once is read READ_BYTES at a time: between two turns of another
    task (the HTTP probes) at most that many bytes of events are handled, and all arrive."""
    from supervisor.ami.protocol import READ_BYTES

    event = (
        b"Event: ChallengeSent\r\nService: PJSIP\r\n"
        b"RemoteAddress: IPV6/UDP/2001:db8::1/5060\r\n\r\n"
    )
    count = 1_000_000 // len(event)

    async def serve(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING + event * count)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    events: list[dict[str, str]] = []
    seen: list[int] = []  # events handled so far, at each turn of the other task
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            seen.append(len(events))
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        _, proto = await asyncio.get_running_loop().create_connection(
            lambda: AmiProtocol(events.append, lambda *_: None), "127.0.0.1", port
        )
        async with asyncio.timeout(30):
            await proto.lost
    finally:
        done.set()
        await task
        server.close()
        await server.wait_closed()
    assert len(events) == count
    most = max(b - a for a, b in itertools.pairwise(seen))
    assert most <= READ_BYTES // len(event) + 1
