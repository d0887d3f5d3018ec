"""The hang watchdog's policy, with fake time and scripted probes; /proc diagnostics on a real
stopped process; the probes against real parts (a real AMI protocol fake, a real command)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import pytest
from prometheus_client import CollectorRegistry

from supervisor.ami.types import AmiError, Message
from supervisor.process.hang import (
    AmiPing,
    ControlSocketProbe,
    HangPolicy,
    HangReport,
    HangWatchdog,
    thread_states,
)
from supervisor.process.reaper import Reaper


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class ScriptedProbe:
    """Answers according to `answers(now)`; each question costs `cost` seconds (capped to the
    timeout when there is no answer, as a real timeout would)."""

    def __init__(self, name: str, time: FakeTime, answers: Callable[[float], bool]) -> None:
        self.name = name
        self._time = time
        self._answers = answers
        self.asked = 0
        self.last_answer: float | None = None

    async def answers(self, timeout_s: float) -> bool:
        self.asked += 1
        ok = self._answers(self._time.now)
        if ok:
            self.last_answer = self._time.now
        self._time.now += 0.01 if ok else timeout_s
        await asyncio.sleep(0)
        return ok


class FakeTarget:
    def __init__(self, time: FakeTime, exits_at: float | None = None) -> None:
        self._time = time
        self.exits_at = exits_at
        self.killed_at: float | None = None
        self.pid: int | None = 4242

    @property
    def running(self) -> bool:
        if self.killed_at is not None:
            return False
        return self.exits_at is None or self._time.now < self.exits_at

    def kill(self) -> None:
        self.killed_at = self._time.now

    def recent_output(self) -> Sequence[str]:
        return ["[Nov 29 09:00:00] NOTICE[1]: last words"]

    async def wait(self, limit_s: float | None = None) -> int:
        return -9


POLICY = HangPolicy(timeout_s=30, boot_timeout_s=60, interval_s=5, probe_timeout_s=5)


def watchdog(
    time: FakeTime, *probes: ScriptedProbe, reports: list[HangReport] | None = None
) -> tuple[HangWatchdog, CollectorRegistry]:
    registry = CollectorRegistry()
    dog = HangWatchdog(
        policy=POLICY,
        probes=probes,
        registry=registry,
        on_hang=(reports if reports is not None else []).append,
        clock=time.clock,
        sleep=time.sleep,
    )
    return dog, registry


async def test_silent_after_answering_is_killed_after_the_timeout_not_before() -> None:
    """Answers until t=100, then silence on both doors: killed between 30 s and 30 s plus one
    probe round after the last answer, counted once, with a report."""
    t = FakeTime()
    start = t.now
    ami = ScriptedProbe("AMI", t, lambda now: now < start + 100)
    ctl = ScriptedProbe("control socket", t, lambda now: now < start + 100)
    reports: list[HangReport] = []
    dog, registry = watchdog(t, ami, ctl, reports=reports)
    target = FakeTarget(t)
    report = await dog.watch(target)
    assert report is not None
    assert target.killed_at is not None
    assert ami.last_answer is not None
    assert target.killed_at - ami.last_answer >= 30
    assert target.killed_at - (start + 100) <= 30 + 1
    assert reports == [report]
    assert report.last_lines == ("[Nov 29 09:00:00] NOTICE[1]: last words",)
    assert registry.get_sample_value("asterisk_supervisor_asterisk_hangs_total") == 1.0


async def test_either_door_answering_keeps_it_alive() -> None:
    """AMI silent for ever but the control socket answering (a broken manager config, a lost
    session) is not a hang; the control socket is asked only when AMI does not answer."""
    t = FakeTime()
    ami = ScriptedProbe("AMI", t, lambda now: False)
    ctl = ScriptedProbe("control socket", t, lambda now: True)
    dog, registry = watchdog(t, ami, ctl)
    target = FakeTarget(t, exits_at=t.now + 3600)
    assert await dog.watch(target) is None
    assert target.killed_at is None
    assert ctl.asked > 100
    assert registry.get_sample_value("asterisk_supervisor_asterisk_hangs_total") == 0.0

    t2 = FakeTime()
    ami2 = ScriptedProbe("AMI", t2, lambda now: True)
    ctl2 = ScriptedProbe("control socket", t2, lambda now: True)
    dog2, _ = watchdog(t2, ami2, ctl2)
    assert await dog2.watch(FakeTarget(t2, exits_at=t2.now + 600)) is None
    assert ami2.asked > 50
    assert ctl2.asked == 0


class SlowProbe:
    """Answers after `latency` seconds if the timeout allows (a busy Asterisk)."""

    def __init__(self, name: str, time: FakeTime, latency: float) -> None:
        self.name = name
        self._time = time
        self.latency = latency

    async def answers(self, timeout_s: float) -> bool:
        self._time.now += min(self.latency, timeout_s)
        await asyncio.sleep(0)
        return self.latency <= timeout_s


async def test_slow_but_answering_within_the_probe_timeout_is_never_killed() -> None:
    """AMI too slow for its probe timeout but the control socket answering in 4.9 s (heavy
    load) is alive for an hour; a control socket needing 6 s (beyond the 5 s probe timeout) too,
    for 30 s, is a hang."""
    t = FakeTime()
    dog = HangWatchdog(
        policy=POLICY,
        probes=[SlowProbe("AMI", t, 8.0), SlowProbe("control socket", t, 4.9)],
        registry=CollectorRegistry(),
        clock=t.clock,
        sleep=t.sleep,
    )
    target = FakeTarget(t, exits_at=t.now + 3600)
    assert await dog.watch(target) is None
    assert target.killed_at is None
    dog.probes = (SlowProbe("AMI", t, 8.0), SlowProbe("control socket", t, 6.0))
    start = t.now
    target = FakeTarget(t)
    assert await dog.watch(target) is not None
    assert target.killed_at is not None
    # Never answered: the boot allowance (60 s) applies, plus at most one probe round.
    assert 60 <= target.killed_at - start <= 60 + 10


async def test_boot_gets_the_boot_allowance_then_the_hang_timeout() -> None:
    """A process that never answered is given boot_timeout (60 s), not the hang timeout."""
    t = FakeTime()
    start = t.now
    silent = ScriptedProbe("AMI", t, lambda now: False)
    dog, _ = watchdog(t, silent)
    target = FakeTarget(t)
    assert await dog.watch(target) is not None
    assert target.killed_at is not None
    assert 60 <= target.killed_at - start <= 60 + 6


async def test_an_exiting_process_is_not_killed_and_run_moves_to_the_next() -> None:
    """A process that exits while silent is let go (the crash policy has it); run() watches the
    next process that current() names, each only once."""
    t = FakeTime()
    silent = ScriptedProbe("AMI", t, lambda now: False)
    dog, registry = watchdog(t, silent)
    first = FakeTarget(t, exits_at=t.now + 20)
    second = FakeTarget(t)
    current: list[FakeTarget] = [first]

    def now_current() -> FakeTarget:
        if not first.running:
            current[0] = second
        return current[0]

    task = asyncio.create_task(dog.run(now_current))
    for _ in range(10_000):
        if second.killed_at is not None:
            break
        await asyncio.sleep(0)
    task.cancel()
    assert first.killed_at is None
    assert second.killed_at is not None
    assert registry.get_sample_value("asterisk_supervisor_asterisk_hangs_total") == 1.0


def test_policy_rejects_non_positive_times() -> None:
    """A zero or negative timeout is a configuration error, not a watchdog that always fires."""
    with pytest.raises(ValueError, match="positive"):
        HangPolicy(timeout_s=0)


def test_thread_states_of_a_stopped_process() -> None:
    """A SIGSTOPped multi-threaded process reads as all threads stopped (T), from /proc."""
    code = (
        "import threading, time\n"
        "for _ in range(3): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        "print('up', flush=True)\n"
        "time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        child.stdout.readline()
        os.kill(child.pid, signal.SIGSTOP)
        for _ in range(200):  # the stop reaches every thread soon, not at once (a loaded CPU)
            summary = thread_states(child.pid)
            if summary.startswith("4 threads: 4 T (stopped)"):
                break
            time.sleep(0.05)
        assert summary.startswith("4 threads: 4 T (stopped)"), summary
        assert "wait channels:" in summary
    finally:
        child.kill()
        child.wait()
    assert thread_states(child.pid).startswith("threads unreadable")


class Ami:
    def __init__(self, reply: Sequence[Message] | Exception) -> None:
        self.reply = reply

    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        assert action == {"Action": "Ping"}
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


async def test_ami_ping_probe() -> None:
    """Success answers; an Error response or an AmiError (timeout, not connected) does not."""
    assert await AmiPing(Ami([{"Response": "Success", "Ping": "Pong"}])).answers(1)
    assert not await AmiPing(Ami([{"Response": "Error"}])).answers(1)
    assert not await AmiPing(Ami(AmiError("not connected"))).answers(1)


async def test_control_socket_probe_bounds_a_command_that_hangs() -> None:
    """Exit 0 answers; a non-zero exit does not; a command that hangs is killed at the timeout."""
    reaper = Reaper()
    task = asyncio.create_task(reaper.run())
    try:
        assert await ControlSocketProbe(["true"], reaper).answers(5)
        assert not await ControlSocketProbe(["false"], reaper).answers(5)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert not await ControlSocketProbe(["sleep", "30"], reaper).answers(0.3)
        assert loop.time() - t0 < 2
        assert not await ControlSocketProbe(["/nonexistent/asterisk"], reaper).answers(1)
    finally:
        task.cancel()
