"""The AMI wire protocol: panoramisk's AMIProtocol with in-order delivery and a fast event path.

Why not panoramisk's Manager: it reconnects on a fixed delay, replays pending actions blindly
after FullyBooted, never checks ping replies, and resolves list actions through futures whose
callbacks run *after* later events of the same read were dispatched, so a re-sync snapshot could
not be placed at its position in the stream. Here:

- Events are parsed into plain dicts (panoramisk's case-insensitive Message costs more than all
  our processing) and handed to `on_event` synchronously, in stream order.
- Responses (anything with an ActionID) go through panoramisk's Action/Message correlation; when
  an action completes, `on_complete(action, messages)` runs synchronously at that point of the
  stream, before any later event, and only then is the future resolved.
- `AuthDetail` events (they carry trunk passwords in clear text) are dropped on arrival, before
  parsing, whether they come as events or as list items; nothing here logs raw traffic.
- Input is bounded and read in linear time: bytes are kept until a message's blank line, which is
  looked for only in the bytes not yet scanned; a message (or a greeting) longer than the cap
  closes the connection with a counted protocol error. A message is decoded as UTF-8 only once it
  is complete (its end is ASCII, so a character split across reads is never cut). The greeting
  must be Asterisk's (`Asterisk Call Manager/<version>`): anything else is not an AMI server, and
  is logged and counted as such.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from supervisor.site.errors import escape
from supervisor.site.limits import MAX_AMI_GREETING_BYTES, MAX_AMI_MESSAGE_BYTES

log = logging.getLogger(__name__)

EOL = "\r\n"
_SEP = b"\r\n\r\n"
_AUTH_DETAIL = "Event: AuthDetail\r\n"
GREETING_PREFIX = "Asterisk Call Manager/"
#: The largest message accepted (a big list item or a Command output stays far below it).
MAX_MESSAGE_BYTES = MAX_AMI_MESSAGE_BYTES
#: The greeting is one short line; a peer that sends more without a line end is not Asterisk.
MAX_GREETING_BYTES = MAX_AMI_GREETING_BYTES
#: Bytes read from the socket per turn of the event loop (see AmiProtocol).
READ_BYTES = 16 * 1024
#: The bounded vocabulary of `asterisk_supervisor_ami_protocol_errors_total{reason}`.
PROTOCOL_ERRORS = ("not_ami", "message_too_large")

EventSink = Callable[[dict[str, str]], None]
CompleteSink = Callable[[Any, list[Any]], None]
ErrorSink = Callable[[str], None]


class _NoFactory:
    """What AMIProtocol calls on its `factory`: we replay nothing and reconnect ourselves."""

    forgetable_actions: tuple[str, ...] = ()

    def __init__(self) -> None:
        # AMIProtocol.close() parks unanswered actions here for a replay we never do.
        self.awaiting_actions: list[Any] = []


class AmiProtocol(AMIProtocol, asyncio.BufferedProtocol):  # type: ignore[misc]
    """One AMI TCP connection. `lost` resolves when the connection ends, for whatever reason.

    Read READ_BYTES at a time (a BufferedProtocol: the transport reads into our buffer): with
    asyncio's default of 256 KiB a read under a flood held ~600 security events, handled in one
    callback while /healthz waited (bench/reports/attack.notes.md); this bounds one turn of
    the event loop to about 40 of them, and the kernel's socket buffer holds the rest."""

    def __init__(
        self,
        on_event: EventSink,
        on_complete: CompleteSink,
        on_protocol_error: ErrorSink | None = None,
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.on_event = on_event
        self.on_complete = on_complete
        self.on_protocol_error = on_protocol_error
        self.max_message_bytes = max_message_bytes
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        self._read_view = memoryview(bytearray(READ_BYTES))
        self._scanned = 0  # bytes of the buffer known to hold no message end
        self.greeting: str | None = None
        #: Why this side closed the connection (a PROTOCOL_ERRORS reason), if it did.
        self.protocol_error: str | None = None
        #: Bytes searched for a message end in all (for the linearity test: about the bytes read).
        self.bytes_scanned = 0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.factory = _NoFactory()
        self.encoding = "utf-8"

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._read_view[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self.protocol_error is not None:
            return
        buffer = self._buffer
        buffer += data
        start = 0
        if self.greeting is None:
            # The first line is "Asterisk Call Manager/<version>" without a blank line after it.
            end = buffer.find(b"\r\n", max(0, self._scanned - 1))
            self.bytes_scanned += len(buffer) - max(0, self._scanned - 1)
            if end < 0:
                self._scanned = len(buffer)
                if len(buffer) > MAX_GREETING_BYTES:
                    self._fail(
                        "not_ami", f"no greeting line in the first {MAX_GREETING_BYTES} bytes"
                    )
                return
            greeting = buffer[:end].decode("utf-8", "replace")
            if not greeting.startswith(GREETING_PREFIX):
                self._fail("not_ami", f"it greeted with {escape(greeting[:80])!r}")
                return
            self.greeting = greeting
            start = self._scanned = end + 2
        on_event = self.on_event
        while True:
            # Only the bytes not scanned yet (less the 3 that may begin a split separator).
            scan_from = max(start, self._scanned - 3)
            end = buffer.find(_SEP, scan_from)
            if end < 0:
                self.bytes_scanned += len(buffer) - scan_from
                self._scanned = len(buffer)
                break
            self.bytes_scanned += end + 4 - scan_from
            block = buffer[start:end].decode("utf-8", "replace")
            start = self._scanned = end + 4
            if block.startswith(_AUTH_DETAIL):  # Asterisk always writes Event: first
                continue  # a password travels in it: drop before anything else sees it
            if block.startswith("Event: ") and "\r\nActionID: " not in block:
                event: dict[str, str] = {}
                for line in block.split(EOL):
                    key, sep, value = line.partition(": ")
                    if sep:
                        event[key] = value
                on_event(event)
                continue
            message = Message.from_line(block.strip())
            if message is not None:
                self.handle_message(message)
            if self.protocol_error is not None or self.closed:
                return
        if start:
            del buffer[:start]
            self._scanned -= start
        if len(buffer) > self.max_message_bytes:
            self._fail(
                "message_too_large",
                f"a message longer than {self.max_message_bytes} bytes (no end in sight)",
            )

    def _fail(self, reason: str, detail: str) -> None:
        """Close the connection over a protocol error: logged, counted, the buffer released."""
        self.protocol_error = reason
        self._buffer = bytearray()
        transport = getattr(self, "transport", None)
        peer = transport.get_extra_info("peername") if transport is not None else None
        what = "not an Asterisk manager" if reason == "not_ami" else "protocol error"
        log.warning("AMI peer %s: %s: %s; closing the connection", peer, what, detail)
        if self.on_protocol_error is not None:
            self.on_protocol_error(reason)
        self.close()

    def handle_message(self, message: Any) -> None:
        response = self.responses.get(message.id)
        if response is None and message.action_id:
            response = self.responses.get(message.action_id)
        if response is None:
            # A list item or late response of an action we gave up on (timeout): drop it, it is
            # not an event. (We send no Originate, whose async result would carry an ActionID.)
            return
        future = response.future
        response.future = _Deferred()  # let panoramisk decide completion, then resolve in order
        done = response.add_message(message)
        result = response.future.result
        response.future = future
        if done:
            self.responses.pop(response.id, None)
            if response.action_id:
                self.responses.pop(response.action_id, None)
            items = result if isinstance(result, list) else [result]
            self.on_complete(response, items)
            if not future.done():
                future.set_result(items)

    def send_action(self, fields: dict[str, str]) -> tuple[str, asyncio.Future[list[Any]]]:
        """Write one action; the future gets the list of its messages (response first)."""
        action = actions.Action(fields)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        action.future = future
        self.responses[action.id] = action
        if self.closed:
            future.set_exception(ConnectionError("AMI connection closed"))
        else:
            self.transport.write(str(action).encode("utf-8"))
        return str(action.id), future

    def forget(self, action_id: str) -> None:
        """Stop waiting for an action (timed out): its late messages are dropped."""
        self.responses.pop(action_id, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for action in list(self.responses.values()):
            if not action.future.done():
                action.future.set_exception(ConnectionError("AMI connection lost"))
        self.responses.clear()
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()


class _Deferred:
    """Stands in for an Action's future while panoramisk's add_message decides completion."""

    def __init__(self) -> None:
        self.result: Any = None
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, result: Any) -> None:
        self.result, self._done = result, True
