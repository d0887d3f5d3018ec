"""The hang watchdog: an Asterisk that is alive but answers nothing is killed and restarted.

A deadlocked Asterisk (real versions have had reload deadlocks; `kill -STOP` looks the same from
outside) keeps its PID, so the crash policy never sees it, and the supervisor's own loop is fine,
so the kubelet's liveness probe never fires: every call fails until a person notices. So we ask
Asterisk, through two independent doors, whether it still answers:

1. AMI (`Ping` over the supervisor's session: cheap, the normal path), and only if that fails
2. the control socket (`asterisk -rx "core show uptime"`: a fork+exec, so only when AMI is quiet;
   it still answers when AMI alone is broken, e.g. a bad manager.conf or a lost session).

Any answer resets the clock. No answer through either door for `timeout_s` is a hang: cheap
diagnostics first (every thread's state and wait channel from /proc, the last console lines),
one clear log line, the counter, then SIGKILL. The process supervisor then sees an Asterisk
killed by SIGKILL and restarts it through the crash policy (backoff, crash-loop exit), like any
other crash. During a drain the same kill ends the drain at once instead of waiting for its
deadline.

Until a process has answered once (boot, config load) the allowance is `boot_timeout_s`, never
less than `timeout_s`: a slow start is not a hang.

Default timeout (30 s). Measured by the long soak (bench/reports/soak-long.md: 31,044 calls at
20 calls/s, load average up to 14.7 on 2 cores, sampled during the run): AMI Ping p99 7.9 ms,
`core show uptime` p99 150 ms (its process start included), the slowest answer of either outside
fault windows 0.34 s. A live but busy Asterisk answers within a probe timeout (5 s) by a factor
of more than ten, and the verdict needs 30 s of silence on both doors: nearly a hundred times
the slowest answer seen. Shorter would buy little (a restart costs the
calls anyway) and risk killing an Asterisk stalled for seconds by a large reload; longer only
prolongs an outage that fails every call. Detection takes the timeout plus at most one probe
interval (5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Protocol

from prometheus_client import CollectorRegistry, Counter

from supervisor.ami.types import AmiActions, AmiError
from supervisor.process.console import run_command
from supervisor.process.reaper import Reaper

log = logging.getLogger(__name__)

DEFAULT_HANG_TIMEOUT_S = 30.0
_MAX_DIAGNOSTIC_THREADS = 64  # wait channels named in the log (threads counted regardless)


@dataclass(frozen=True, kw_only=True)
class HangPolicy:
    timeout_s: float = DEFAULT_HANG_TIMEOUT_S
    boot_timeout_s: float = 60.0  # before the first answer of a process
    interval_s: float = 5.0  # between probe rounds while everything answers
    probe_timeout_s: float = 5.0  # one probe's bound (capped to the time left)

    def __post_init__(self) -> None:
        if min(self.timeout_s, self.boot_timeout_s, self.interval_s, self.probe_timeout_s) <= 0:
            raise ValueError("hang policy times must be positive")


class Probe(Protocol):
    """One way of asking Asterisk whether it answers. Never raises for "no answer"."""

    name: str

    async def answers(self, timeout_s: float) -> bool: ...


class Target(Protocol):
    """One running Asterisk process (supervisor.process.asterisk.AsteriskProcess)."""

    @property
    def pid(self) -> int | None: ...

    @property
    def running(self) -> bool: ...

    def kill(self) -> None: ...

    def recent_output(self) -> Sequence[str]: ...

    async def wait(self, limit_s: float | None = None) -> int: ...


class AmiPing:
    """AMI `Ping` over the supervisor's own session; not connected counts as no answer."""

    name = "AMI"

    def __init__(self, ami: AmiActions) -> None:
        self._ami = ami

    async def answers(self, timeout_s: float) -> bool:
        try:
            reply = await self._ami.action({"Action": "Ping"}, timeout=timeout_s)
        except AmiError:
            return False
        return bool(reply) and reply[0].get("Response") == "Success"


class ControlSocketProbe:
    """`asterisk -rx "core show uptime"`: Asterisk's CLI over its control socket."""

    name = "control socket"

    def __init__(self, argv: Sequence[str], reaper: Reaper) -> None:
        self._argv = list(argv)
        self._reaper = reaper

    async def answers(self, timeout_s: float) -> bool:
        try:
            return await run_command(self._argv, self._reaper, timeout_s) == 0
        except (OSError, TimeoutError):
            return False


@dataclass(frozen=True, kw_only=True)
class HangReport:
    pid: int | None
    silent_s: float
    threads: str  # "41 threads: 41 T (stopped); wait channels: do_signal_stop x41"
    last_lines: tuple[str, ...]


def thread_states(pid: int, proc: Path = Path("/proc")) -> str:
    """Every thread's scheduler state and wait channel, summarised in one line (cheap: a few
    small /proc reads per thread, no ptrace, nothing that a hung process must answer)."""
    states: Tally[str] = Tally()
    channels: Tally[str] = Tally()
    try:
        tasks = sorted((proc / str(pid) / "task").iterdir())
    except OSError as exc:
        return f"threads unreadable ({exc.strerror})"
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        # Field 3, after the parenthesised command name (which may hold spaces or ')').
        fields = stat.rsplit(")", 1)[-1].split()
        states[fields[0] if fields else "?"] += 1
        if sum(channels.values()) < _MAX_DIAGNOSTIC_THREADS:
            with contextlib.suppress(OSError):
                channels[(task / "wchan").read_text().strip() or "0"] += 1
    total = sum(states.values())
    names = {"R": "running", "S": "sleeping", "D": "uninterruptible", "T": "stopped", "t": "traced"}
    by_state = ", ".join(
        f"{n} {s} ({names.get(s, 'other')})" for s, n in sorted(states.items(), key=lambda x: -x[1])
    )
    waits = ", ".join(f"{c} x{n}" for c, n in channels.most_common(5))
    return f"{total} threads: {by_state}; wait channels: {waits or 'unknown'}"


class HangWatchdog:
    """Watches each running Asterisk; see the module docstring. `run(current)` never returns."""

    def __init__(
        self,
        *,
        policy: HangPolicy,
        probes: Sequence[Probe],
        registry: CollectorRegistry,
        on_hang: Callable[[HangReport], None] = lambda _r: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        proc: Path = Path("/proc"),
    ) -> None:
        if not probes:
            raise ValueError("the hang watchdog needs at least one probe")
        self.policy = policy
        self.probes = tuple(probes)
        self.on_hang = on_hang
        self._clock = clock
        self._sleep = sleep
        self._proc = proc
        self.hangs = Counter(
            "asterisk_supervisor_asterisk_hangs",
            "Asterisks declared hung (alive, answering neither AMI nor the control socket for "
            "the hang timeout) and killed to be restarted.",
            registry=registry,
        )

    async def run(self, current: Callable[[], Target | None]) -> NoReturn:
        """Watch whatever `current()` names, each process once, until cancelled."""
        watched: Target | None = None
        while True:
            target = current()
            if target is not None and target is not watched and target.running:
                watched = target
                await self.watch(target)
            else:
                await self._sleep(min(self.policy.interval_s, 1.0))

    async def watch(self, target: Target) -> HangReport | None:
        """Until `target` exits (None) or is declared hung and killed (its report). Silence is
        measured from the first question left unanswered."""
        policy = self.policy
        # A new process has not answered yet: it is "silent" from its start, with the boot
        # allowance.
        silent_since: float | None = self._clock()
        allowance = max(policy.boot_timeout_s, policy.timeout_s)
        answered_once = False
        while target.running:
            since = silent_since if silent_since is not None else self._clock()
            answered = await self._ask(since + allowance)
            if answered:
                if not answered_once:
                    answered_once = True
                    log.info(
                        "hang watchdog: Asterisk (pid %s) answers; watching it (hung after %g s "
                        "without an answer)",
                        target.pid,
                        policy.timeout_s,
                    )
                silent_since = None
                allowance = policy.timeout_s
                await self._sleep(min(policy.interval_s, policy.timeout_s))
                continue
            if not target.running:
                return None
            silent_since = since
            if self._clock() - since >= allowance:
                return await self._hung(target, self._clock() - since)
            await self._sleep(min(1.0, policy.interval_s))
        return None

    async def _ask(self, deadline: float) -> bool:
        """Each probe in turn, each bounded by the probe timeout (and the time left): rounds
        repeat until the deadline, so one question stuck in a process that froze just after
        answering cannot hold the verdict past the timeout."""
        cap = min(self.policy.probe_timeout_s, self.policy.timeout_s)
        for probe in self.probes:
            timeout = max(min(cap, deadline - self._clock()), 0.1)
            if await probe.answers(timeout):
                return True
        return False

    async def _hung(self, target: Target, silent_s: float) -> HangReport:
        pid = target.pid
        report = HangReport(
            pid=pid,
            silent_s=silent_s,
            threads=thread_states(pid, self._proc) if pid is not None else "no pid",
            last_lines=tuple(target.recent_output()),
        )
        self.hangs.inc()
        doors = " nor ".join(p.name for p in self.probes)
        log.error(
            "Asterisk (pid %s) is hung: no answer over %s for %.0f s; killing it (SIGKILL) "
            "to restart it; %s",
            pid,
            doors,
            silent_s,
            report.threads,
        )
        for line in report.last_lines:
            log.info("hung Asterisk's last output: %s", line)
        self.on_hang(report)
        target.kill()
        # SIGKILL ends even a stopped process; the reaper reports it. Bounded all the same.
        with contextlib.suppress(TimeoutError):
            await target.wait(10.0)
        return report
