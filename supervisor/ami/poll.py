"""The read loop of a part that keeps something Asterisk knows fresh over AMI (the voicemail
counts, the phones' feature state): one implementation of when to read and when to forget."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

from supervisor.ami.types import AmiError

log = logging.getLogger(__name__)


async def poll_forever(
    *,
    booted: asyncio.Event,
    refresh: Callable[[], Awaitable[None]],
    forget: Callable[[], None],
    wakeup: asyncio.Event,
    interval: float,
    what: str,
    settle: float = 0.0,
) -> NoReturn:
    """Read (`refresh`) once Asterisk is booted, then on each `wakeup` and every `interval`
    seconds; while Asterisk is not booted or does not answer, `forget` (unknown, never stale).
    After a wake-up wait `settle` seconds, so a burst of events costs one read."""
    while True:
        if not booted.is_set():
            forget()
            await booted.wait()
        try:
            await refresh()
        except AmiError as exc:
            log.debug("%s not read: %s", what, exc)
            forget()
        try:
            async with asyncio.timeout(interval):
                await wakeup.wait()
        except TimeoutError:
            pass
        wakeup.clear()
        await asyncio.sleep(settle)
