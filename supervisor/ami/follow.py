"""The AMI session follows the Asterisk process it talks to (entrypoint mode).

A new Asterisk: log in at once, whatever backoff the old one's silence built up. An Asterisk that
exited: its session is dead, close it (so the client reconnects to the next one without waiting
for a timeout), and what was read from it (e.g. the mailbox counts) is unknown until it is back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class Session(Protocol):
    def reconnect_now(self) -> None: ...

    def close(self) -> None: ...


class FollowProcess:
    """`started` and `exited` are the process supervisor's `on_start` and `on_exit` hooks;
    `forget`: called after an exit, by the parts whose view of Asterisk is now stale."""

    def __init__(self, session: Session, forget: Sequence[Callable[[], None]] = ()) -> None:
        self._session = session
        self._forget = tuple(forget)

    def started(self, _process: object) -> None:
        self._session.reconnect_now()

    def exited(self, _code: int) -> None:
        self._session.close()
        for forget in self._forget:
            forget()
