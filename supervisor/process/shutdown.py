"""Shutdown, one path: the first SIGTERM/SIGINT drains (Asterisk refuses new calls, active ones
finish until the deadline), a second one stops at once; then the task group ends.

Signal handlers only set events; `run()` (a named task) does the work and ends the supervisor by
raising `Stopped`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import NoReturn

from supervisor.process.asterisk import AsteriskSupervisor
from supervisor.process.drain import drain
from supervisor.process.reaper import Reaper
from supervisor.status import Check

log = logging.getLogger(__name__)

STUCK_REPORT_AFTER_S = 5.0


class Stopped(Exception):
    """Raised by the shutdown path to end the task group after a clean drain."""


class Shutdown:
    def __init__(
        self,
        *,
        asterisk: AsteriskSupervisor | None,
        reaper: Reaper,
        stop_gracefully: Sequence[str],
        deadline_s: float,
        grace_s: float,
    ) -> None:
        self.asterisk = asterisk
        self.reaper = reaper
        self.stop_gracefully = list(stop_gracefully)
        self.deadline_s = deadline_s
        self.grace_s = grace_s
        self.requested = asyncio.Event()
        self.force = asyncio.Event()
        self.draining = False

    def on_signal(self, signame: str) -> None:
        """A termination signal: drain the first time, stop at once the second."""
        if self.requested.is_set():
            log.warning("%s again: stopping at once", signame)
            self.force.set()
        else:
            log.info("%s: draining, then stopping", signame)
            self.requested.set()

    def is_draining(self) -> bool:
        """Once a termination signal came: new calls are refused, Asterisk is being stopped."""
        return self.draining

    def checks(self) -> list[Check]:
        detail = "shutting down: new calls are refused" if self.draining else "no"
        return [Check(name="draining", ok=not self.draining, detail=detail)]

    async def run(self) -> NoReturn:
        await self.requested.wait()
        self.draining = True
        log.info("not ready: draining")
        process = self.asterisk.current if self.asterisk is not None else None
        if self.asterisk is not None and process is not None:
            self.asterisk.stopping = True
            code = await drain(
                process,
                stop_gracefully=self.stop_gracefully,
                reaper=self.reaper,
                deadline_s=self.deadline_s,
                force=self.force,
                grace_s=self.grace_s,
            )
            log.info("Asterisk stopped (%s)", code)
        asyncio.get_running_loop().call_later(STUCK_REPORT_AFTER_S, report_stuck_tasks)
        raise Stopped


def report_stuck_tasks() -> None:
    """Cancellation should end every task at once; name any that does not."""
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            frames = task.get_stack(limit=8)
            where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames)
            log.error("shutdown: task %s still running at %s", task.get_name(), where)
