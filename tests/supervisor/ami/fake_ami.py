"""A fake Asterisk Manager Interface speaking the real wire protocol over TCP, for situations a real
Asterisk cannot be made to produce on demand (a stalled peer, a scripted race) and for replaying
captured traffic in benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

Fields = dict[str, str]
Handler = Callable[[Fields], list[Fields]]

GREETING = b"Asterisk Call Manager/9.0.0\r\n"


def block(fields: Fields) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


def parse(data: str) -> list[Fields]:
    out = []
    for chunk in data.split("\r\n\r\n"):
        fields: Fields = {}
        for line in chunk.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                fields[key] = value
        if fields:
            out.append(fields)
    return out


class FakeAmi:
    """Accepts logins with `username`/`secret`; answers each action with `handlers[name](fields)`
    (a list of messages; ActionID is added), `Response: Success` by default. `stalled` stops all
    answers (the TCP connection stays open). `push()` sends events to every logged-in client."""

    def __init__(self, username: str = "sup", secret: str = "pw") -> None:
        self.username, self.secret = username, secret
        self.handlers: dict[str, Handler] = {}
        self.stalled = False
        self.booted = True
        self.writers: list[asyncio.StreamWriter] = []
        self.actions: list[Fields] = []
        self.logins = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> FakeAmi:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self.drop_all()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def drop_all(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    def push(self, *events: Fields | bytes) -> None:
        data = b"".join(e if isinstance(e, bytes) else block(e) for e in events)
        for writer in self.writers:
            writer.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING)
        logged_in = False
        buffer = ""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                buffer += data.decode()
                *chunks, buffer = buffer.split("\r\n\r\n")
                for chunk in chunks:
                    fields = parse(chunk + "\r\n\r\n")
                    if not fields:
                        continue
                    action = fields[0]
                    self.actions.append(action)
                    if self.stalled:
                        continue
                    aid = {"ActionID": action.get("ActionID", "")}
                    name = action.get("Action", "")
                    if name == "Login":
                        ok = (action.get("Username"), action.get("Secret")) == (
                            self.username,
                            self.secret,
                        )
                        if ok:
                            logged_in = True
                            self.logins += 1
                            writer.write(
                                block({"Response": "Success", **aid, "Message": "Accepted"})
                            )
                            self.writers.append(writer)
                            if self.booted:
                                writer.write(
                                    block(
                                        {
                                            "Event": "FullyBooted",
                                            "Privilege": "system,all",
                                            "Uptime": "100",
                                            "LastReload": "50",
                                            "Status": "Fully Booted",
                                        }
                                    )
                                )
                        else:
                            writer.write(
                                block(
                                    {
                                        "Response": "Error",
                                        **aid,
                                        "Message": "Authentication failed",
                                    }
                                )
                            )
                        continue
                    if not logged_in:
                        writer.write(
                            block({"Response": "Error", **aid, "Message": "Permission denied"})
                        )
                        continue
                    handler = self.handlers.get(name)
                    replies = handler(action) if handler else [{"Response": "Success"}]
                    # Entries marked "_noid" are unrelated events the test interleaves with the
                    # reply in the same write (no ActionID).
                    writer.write(
                        b"".join(
                            block({k: v for k, v in r.items() if k != "_noid"})
                            if "_noid" in r
                            else block({**r, **aid})
                            for r in replies
                        )
                    )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(ValueError):
                self.writers.remove(writer)
            writer.close()


def list_reply(items: list[Fields], complete: str, message: str = "follows") -> list[Fields]:
    """A list action's reply: Success + EventList start, the items, the Complete event."""
    return [
        {"Response": "Success", "EventList": "start", "Message": message},
        *items,
        {"Event": complete, "EventList": "Complete", "ListItems": str(len(items))},
    ]
