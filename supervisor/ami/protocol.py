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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

EOL = "\r\n"
_SEP = "\r\n\r\n"
_AUTH_DETAIL = "Event: AuthDetail\r\n"

EventSink = Callable[[dict[str, str]], None]
CompleteSink = Callable[[Any, list[Any]], None]


class _NoFactory:
    """What AMIProtocol calls on its `factory`: we replay nothing and reconnect ourselves."""

    forgetable_actions: tuple[str, ...] = ()

    def __init__(self) -> None:
        # AMIProtocol.close() parks unanswered actions here for a replay we never do.
        self.awaiting_actions: list[Any] = []


class AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """One AMI TCP connection. `lost` resolves when the connection ends, for whatever reason."""

    def __init__(self, on_event: EventSink, on_complete: CompleteSink) -> None:
        self.on_event = on_event
        self.on_complete = on_complete
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tail = ""
        self.greeting: str | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.factory = _NoFactory()
        self.encoding = "utf-8"

    def data_received(self, data: bytes) -> None:
        text = self._tail + data.decode("utf-8", "replace")
        if self.greeting is None:
            # The first line is "Asterisk Call Manager/<version>" without a blank line after it.
            line, sep, rest = text.partition(EOL)
            if not sep:
                self._tail = text
                return
            self.greeting, text = line, rest
        blocks = text.split(_SEP)
        self._tail = blocks.pop()
        on_event = self.on_event
        for block in blocks:
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
