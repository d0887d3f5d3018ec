"""The reload loop: hints from the watcher, trailing debounce, periodic resync, one apply at a
time, and no apply before Asterisk is FullyBooted (changes wait)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import NoReturn, Protocol

from supervisor.reload.applier import ApplyResult
from supervisor.reload.metrics import ReloadMetrics
from supervisor.reload.mounts import Mounts
from supervisor.reload.state import WatchState
from supervisor.reload.watcher import MountWatcher, ObserverFactory

log = logging.getLogger(__name__)


class Debouncer:
    """A hint Event plus a trailing debounce: `settle()` returns once no hint came for `quiet`."""

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet
        self.event = asyncio.Event()

    def hint(self) -> None:
        self.event.set()

    async def wait(self, timeout: float | None) -> bool:
        """Wait for a hint; False when `timeout` passed without one."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation that races
        # with the wait finishing, and this task must stop when cancelled.
        try:
            async with asyncio.timeout(timeout):
                await self.event.wait()
        except TimeoutError:
            return False
        return True

    async def settle(self) -> None:
        while True:
            self.event.clear()
            if not await self.wait(self.quiet):
                return


class Applies(Protocol):
    """What the loop may do with the applier: apply, report a crashed apply, and read."""

    @property
    def mounts(self) -> Mounts: ...

    @property
    def metrics(self) -> ReloadMetrics: ...

    async def apply(self, *, force: bool = False) -> ApplyResult: ...

    def record_crash(self, exc: BaseException) -> None: ...


class Reloader:
    """Runs forever (a named task of the composition root); see the module docstring.

    `booted` is set while Asterisk is FullyBooted (the AMI client's `fully_booted`).
    """

    def __init__(
        self,
        *,
        applier: Applies,
        booted: asyncio.Event,
        debounce: float = 1.0,
        resync: float = 60.0,
        polling_interval: float = 1.0,
        observer_factory: ObserverFactory | None = None,
    ) -> None:
        self.applier = applier
        self.booted = booted
        self.resync = resync
        self.debouncer = Debouncer(debounce)
        self._polling_interval = polling_interval
        self._observer_factory = observer_factory
        self._state = WatchState()

    @property
    def state(self) -> WatchState:
        return self._state

    def _update(self, **changes: object) -> None:
        self._state = dataclasses.replace(self._state, **changes)  # type: ignore[arg-type]

    def hint(self) -> None:
        """A file system event (or anything else) says the mounts may have changed."""
        self.applier.metrics.watch_events.inc()
        self.debouncer.hint()

    def _report_not_live(self) -> None:
        not_live = self.applier.mounts.not_live()
        for path in not_live:
            log.warning(
                "mount %s has no ..data (subPath or plain directory): it will not update live",
                path,
            )
        self._update(not_live=tuple(not_live))

    async def run(self) -> NoReturn:
        loop = asyncio.get_running_loop()
        kwargs = (
            {} if self._observer_factory is None else {"observer_factory": self._observer_factory}
        )
        watcher = MountWatcher(
            paths=self.applier.mounts.paths,
            loop=loop,
            hint=self.hint,
            metrics=self.applier.metrics,
            polling_interval=self._polling_interval,
            **kwargs,
        )
        mode = await asyncio.to_thread(watcher.start)
        self._update(watch_mode=mode)
        try:
            await asyncio.to_thread(self._report_not_live)
            while True:
                await self._wait_booted()
                await self._apply()
                if await self.debouncer.wait(self.resync):
                    await self.debouncer.settle()
        finally:
            await asyncio.shield(asyncio.to_thread(watcher.stop))
            self._update(watch_mode="stopped")

    async def _apply(self) -> None:
        """One apply; a bug in it is logged and counted, and the loop goes on (the next hint or
        resync retries), rather than taking the supervisor down."""
        try:
            await self.applier.apply()
        except Exception as exc:
            log.exception("config apply crashed")
            self.applier.record_crash(exc)

    async def _wait_booted(self) -> None:
        if self.booted.is_set():
            return
        self._update(pending=True)
        log.info("config changes wait until Asterisk is fully booted")
        await self.booted.wait()
        self._update(pending=False)
