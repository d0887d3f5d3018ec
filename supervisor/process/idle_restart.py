"""Restart-when-idle: a config change Asterisk cannot reload (a transport's bind, a start-up-only
file) is applied by restarting Asterisk at the first moment with no active call, or at the
deadline at the latest."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

log = logging.getLogger(__name__)


class RestartWhenIdle:
    """Runs forever (a named task). `wake(reasons)` is the applier's restart hook; the reasons
    themselves are read from `pending()` (the reload state, where they are stored once), so a
    change reverted before the restart cancels it.

    `busy()`: calls or channels are active; `stopping()`: the pod is draining (the drain stops
    Asterisk anyway); `restart()`: ask the process supervisor for a planned restart;
    `startable()`: the pod can run the new config (its required addresses are usable): until
    then no restart, not even at the deadline, since it would stop a working Asterisk to start
    one whose transports cannot bind.
    """

    def __init__(
        self,
        *,
        pending: Callable[[], Sequence[object]],
        busy: Callable[[], bool],
        restart: Callable[[], None],
        deadline_s: float,
        stopping: Callable[[], bool] = lambda: False,
        startable: Callable[[], bool] = lambda: True,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pending = pending
        self._busy = busy
        self._restart = restart
        self._stopping = stopping
        self._startable = startable
        self.deadline_s = deadline_s
        self.poll_s = poll_s
        self._clock = clock
        self._wakeup = asyncio.Event()
        self.restarts = 0

    def wake(self, reasons: Sequence[object]) -> None:
        """The reasons for a restart changed (empty: no longer needed)."""
        if reasons:
            log.warning("restart required to apply: %s", "; ".join(map(str, reasons)))
            self._wakeup.set()

    async def run(self) -> NoReturn:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._restart_when_idle()

    async def _restart_when_idle(self) -> None:
        """Poll while a restart is pending (calls end without an event we could wait on as one:
        several channels per call); stop polling once the restart is asked for or not needed."""
        deadline = self._clock() + self.deadline_s
        waiting = False
        while self._pending() and not self._stopping():
            if not self._startable():
                if not waiting:
                    log.warning("restart waits until the new config's addresses are usable")
                    waiting = True
                await asyncio.sleep(self.poll_s)
                continue
            idle = not self._busy()
            if idle or self._clock() >= deadline:
                log.info(
                    "restarting Asterisk now (%s)",
                    "no active calls" if idle else "restart deadline reached",
                )
                self.restarts += 1
                self._restart()
                return
            await asyncio.sleep(self.poll_s)
