"""Asterisk as our child: started with `asterisk -f`, its console output turned into log lines,
its exit observed through the reaper, restarted with backoff until a crash loop is declared."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from supervisor.backoff import Backoff
from supervisor.process.reaper import Reaper
from supervisor.status import Check

log = logging.getLogger(__name__)
asterisk_log = logging.getLogger("asterisk")

RECENT_LINES = 20
CHUNK = 16 * 1024  # console output relayed per turn of the event loop (~120 lines)
MAX_LINE = 64 * 1024  # a longer line (no newline yet) is relayed as it is


Screen = Callable[[str], "str | None"]
"""What to log of a console line, or None (the line was counted instead)."""


def _relay_all(line: str) -> str | None:
    """The default screen: every console line is logged as it is."""
    return line


class CrashLoop(Exception):
    """Asterisk died too often in the window: let Kubernetes restart the pod."""


@dataclass(frozen=True, kw_only=True)
class RestartPolicy:
    max_restarts: int = 5
    window_s: float = 300.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class AsteriskProcess:
    """One run of Asterisk. `start()` forks it; `exited` resolves with its exit code."""

    def __init__(self, argv: Sequence[str], reaper: Reaper, screen: Screen = _relay_all) -> None:
        self.argv = list(argv)
        self.reaper = reaper
        self.screen = screen
        self.pid: int | None = None
        self.exited: asyncio.Future[int] | None = None
        self.started_at = 0.0
        self._popen: subprocess.Popen[bytes] | None = None
        self._output: asyncio.Task[None] | None = None
        # The last console lines, for the hang watchdog's diagnostics (bounded).
        self._recent: deque[str] = deque(maxlen=RECENT_LINES)

    def start(self) -> None:
        # Popen, not asyncio's subprocess: the reaper must own waitpid() (see reaper.py). A new
        # session keeps a terminal's Ctrl-C away from Asterisk: we decide how it stops.
        self._popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self._popen.pid
        self.exited = self.reaper.watch(self.pid)
        self.started_at = time.monotonic()
        assert self._popen.stdout is not None
        self._output = asyncio.create_task(
            forward_output(self._popen.stdout, self._recent.append, self.screen),
            name=f"asterisk-output-{self.pid}",
        )
        log.info("started Asterisk (pid %d)", self.pid)

    @property
    def running(self) -> bool:
        return self.exited is not None and not self.exited.done()

    def kill(self) -> None:
        self.send(signal.SIGKILL)

    def recent_output(self) -> list[str]:
        return list(self._recent)

    def send(self, sig: signal.Signals) -> None:
        if self.pid is not None and self.exited is not None and not self.exited.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    async def wait(self, limit_s: float | None = None) -> int:
        assert self.exited is not None
        async with asyncio.timeout(limit_s):
            code = await asyncio.shield(self.exited)
        if self._output is not None:
            # The pipe closes when Asterisk is gone; let the last lines reach the log.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(2.0):
                    await self._output
        return code

    async def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM (Asterisk's "core stop now"), SIGKILL after the grace period."""
        if self.exited is None:
            return None
        if not self.exited.done():
            self.send(signal.SIGTERM)
            try:
                return await self.wait(grace_s)
            except TimeoutError:
                log.warning("Asterisk did not stop within %.0f s: killing it", grace_s)
                self.send(signal.SIGKILL)
        return await self.wait(10.0)


async def forward_output(
    pipe: object,
    keep: Callable[[str], None] = lambda _l: None,
    screen: Screen = _relay_all,
) -> None:
    """Asterisk's console output, line by line, as log records of the `asterisk` logger (and to
    `keep`): what `screen` makes of each line (None: it counted the line, nothing is logged)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    partial = b""
    try:
        # Whatever the pipe holds, at most CHUNK bytes at a time, split here: readline() per
        # line cost more than the rest of the relay under a flood (profiled).
        while chunk := await reader.read(CHUNK):
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            if len(partial) > MAX_LINE:  # no end in sight: relayed as is (bounded buffer)
                lines.append(partial)
                partial = b""
            _relay(lines, keep, screen)
            # read() returns at once while bytes are buffered: under a flood of Asterisk output
            # this loop would hold the event loop (and /healthz) for as long as Asterisk writes
            # faster than we relay (profiled, bench/reports/attack.notes.md). One chunk a turn.
            await asyncio.sleep(0)
        _relay([partial], keep, screen)
    finally:
        transport.close()


def _relay(lines: list[bytes], keep: Callable[[str], None], screen: Screen) -> None:
    for line in lines:
        text = line.decode(errors="replace").rstrip()
        if text:
            keep(text)
            relayed = screen(text)
            if relayed is not None:
                asterisk_log.info("%s", relayed)


class AsteriskSupervisor:
    """Keeps Asterisk running: restart with backoff after a crash; CrashLoop when it dies more
    than `max_restarts` times within `window_s`."""

    def __init__(
        self,
        *,
        argv: Sequence[str],
        reaper: Reaper,
        policy: RestartPolicy,
        on_start: Callable[[AsteriskProcess], None] = lambda _p: None,
        on_exit: Callable[[int], None] = lambda _c: None,
        on_crash: Callable[[int], None] = lambda _c: None,
        before_start: Callable[[], Awaitable[object]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        screen: Screen = _relay_all,
    ) -> None:
        """`screen`: sees each console line first and returns what to log of it, or None (the
        security guard's: per-request lines counted, the rest rate-limited, logfilter.py)."""
        self.argv = list(argv)
        self.screen = screen
        self._clock = clock
        self._sleep = sleep
        self.reaper = reaper
        self.policy = policy
        self.on_start = on_start
        self.on_exit = on_exit
        self.on_crash = on_crash
        self.before_start = before_start
        self.current: AsteriskProcess | None = None
        self.restarts = 0
        self.crashes = 0  # exits not asked for (the metric asterisk_supervisor_asterisk_restarts)
        self.stopping = False
        self._crashes: deque[float] = deque()
        self._restart_now = asyncio.Event()

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.running

    def current_process(self) -> AsteriskProcess | None:
        """The process now (None before the first start): what the hang watchdog probes."""
        return self.current

    def checks(self) -> list[Check]:
        """For the status board: Asterisk's process runs (gates readiness)."""
        detail = "running" if self.running else "not running"
        return [Check(name="asterisk process", ok=self.running, detail=detail)]

    def request_restart(self) -> None:
        """Planned restart (a config change Asterisk cannot reload): not counted as a crash."""
        self._restart_now.set()

    async def _planned_restart(self) -> int:
        await self._restart_now.wait()
        return 0

    async def run(self) -> None:
        backoff = Backoff(
            initial=self.policy.backoff_initial_s, maximum=self.policy.backoff_max_s, jitter=False
        )
        while True:
            if self.before_start is not None:
                await self.before_start()
            self.current = AsteriskProcess(self.argv, self.reaper, self.screen)
            self.current.start()
            started = self._clock()
            self.on_start(self.current)
            planned = asyncio.create_task(self._planned_restart(), name="asterisk-restart-request")
            assert self.current.exited is not None
            done, _ = await asyncio.wait(
                [self.current.exited, planned], return_when=asyncio.FIRST_COMPLETED
            )
            planned.cancel()
            if planned in done and not self.current.exited.done():
                self._restart_now.clear()
                log.info("restarting Asterisk to apply a change it cannot reload")
                code = await self.current.stop()
                self.on_exit(code if code is not None else 0)
                continue
            code = await self.current.wait()
            self.on_exit(code)
            if self.stopping:
                # The shutdown path stopped Asterisk and will end the task group: wait for it.
                await asyncio.Event().wait()
            now = self._clock()
            runtime = now - started
            log.error("Asterisk %s after %.1f s", describe_exit(code), runtime)
            self.crashes += 1
            self.on_crash(code)
            self._crashes.append(now)
            while self._crashes and now - self._crashes[0] > self.policy.window_s:
                self._crashes.popleft()
            if len(self._crashes) > self.policy.max_restarts:
                raise CrashLoop(
                    f"Asterisk died {len(self._crashes)} times within "
                    f"{self.policy.window_s:.0f} s; giving up so that Kubernetes restarts the pod"
                )
            if runtime > self.policy.window_s:
                backoff.reset()
            self.restarts += 1
            delay = backoff.next()
            log.info("restarting Asterisk in %.1f s (restart %d)", delay, self.restarts)
            await self._sleep(delay)
