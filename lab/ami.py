"""An AMI client for tests, living in a namespace: a thread inside the pod's network namespace runs
an asyncio loop with a panoramisk Manager, so 127.0.0.1:5038 is the pod's loopback."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from panoramisk import Manager  # type: ignore[import-untyped]

from lab.netns import entered

T = TypeVar("T")


class NetnsLoop:
    """An event loop on its own thread inside a network namespace."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"loop-{ns}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error:
            raise self._error

    def _main(self) -> None:
        try:
            with entered(self.ns):
                asyncio.set_event_loop(self.loop)
                self._ready.set()
                self.loop.run_forever()
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.submit(coro).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class LabAmi:
    """Connect, log in, record every event; actions return their whole response list."""

    def __init__(
        self, ns: str, username: str, secret: str, host: str = "127.0.0.1", port: int = 5038
    ) -> None:
        self.netns = NetnsLoop(ns)
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.events: list[dict[str, str]] = []
        self.manager: Any = None
        self._booted: asyncio.Event | None = None

    def connect(self, timeout: float = 20.0) -> None:
        self.netns.run(self._connect(timeout), timeout + 5)

    async def _connect(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while True:  # AMI accepts connections ~0.2 s after start; poll until it listens
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        self._booted = asyncio.Event()
        self.manager = Manager(
            loop=asyncio.get_running_loop(),
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self.secret,
            ping_delay=3600,
            reconnect_timeout=3600,
        )
        self.manager.register_event("*", self._on_event)
        await self.manager.connect()
        while not self.manager.authenticated:
            if time.monotonic() > deadline:
                raise TimeoutError("AMI login did not succeed")
            await asyncio.sleep(0.02)

    def _on_event(self, _manager: Any, event: Any) -> None:
        data = {str(k): str(v) for k, v in dict(event).items()}
        if data.get("Event") == "AuthDetail":
            return
        self.events.append(data)
        if data.get("Event") == "FullyBooted" and self._booted is not None:
            self._booted.set()

    def wait_fully_booted(self, timeout: float = 20.0) -> None:
        async def wait() -> None:
            assert self._booted is not None
            await asyncio.wait_for(self._booted.wait(), timeout)

        self.netns.run(wait(), timeout + 5)

    def action(self, action: dict[str, str], timeout: float = 10.0) -> list[dict[str, str]]:
        async def send() -> list[dict[str, str]]:
            result = await asyncio.wait_for(self.manager.send_action(dict(action)), timeout)
            items = result if isinstance(result, list) else [result]
            return [
                {str(k): str(v) for k, v in dict(m).items()}
                for m in items
                if dict(m).get("Event") != "AuthDetail"
            ]

        return self.netns.run(send(), timeout + 5)

    def close(self) -> None:
        if self.manager is not None:
            self.netns.loop.call_soon_threadsafe(self.manager.close)
        self.netns.close()
