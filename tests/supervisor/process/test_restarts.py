"""Crash restarts and backoff of the process supervisor, with a real child process that
crashes (tests/supervisor/process/fakeasterisk.py) and an injected clock and sleep: the delays
and the crash-loop window are asserted exactly, without waiting for them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from supervisor.process.asterisk import AsteriskSupervisor, CrashLoop, RestartPolicy
from supervisor.process.reaper import Reaper
from tests.supervisor.process.fakeasterisk import argv, reaping

POLICY = RestartPolicy(max_restarts=3, window_s=300, backoff_initial_s=1, backoff_max_s=30)


class Time:
    """The supervisor's clock and sleep: sleeping advances the clock by the delay at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


def crashing(
    reaper: Reaper,
    time: Time,
    exits: list[int],
    *,
    on_start: Callable[[object], None] = lambda _p: None,
    before_start: Callable[[], Awaitable[object]] | None = None,
    mode: str = "exit-3",
) -> AsteriskSupervisor:
    return AsteriskSupervisor(
        argv=argv(mode),
        reaper=reaper,
        policy=POLICY,
        on_start=on_start,
        on_exit=exits.append,
        before_start=before_start,
        clock=time.clock,
        sleep=time.sleep,
    )


async def test_crashes_back_off_exponentially_then_a_crash_loop_gives_up() -> None:
    """Four crashes within the window: restarts after 1, 2 and 4 s, then CrashLoop (max 3)."""
    time, exits = Time(), []
    async with reaping() as reaper:
        supervisor = crashing(reaper, time, exits)
        with pytest.raises(CrashLoop, match="died 4 times within 300 s"):
            await asyncio.wait_for(supervisor.run(), 30)
    assert time.sleeps == [1, 2, 4]
    assert exits == [3, 3, 3, 3]
    assert (supervisor.restarts, supervisor.crashes) == (3, 4)


async def test_crashes_further_apart_than_the_window_never_give_up() -> None:
    """An Asterisk that ran longer than the window before each crash: the backoff starts over
    (1 s each time) and old crashes leave the window, so six crashes are no crash loop."""
    time, exits = Time(), []

    def runs_400_s(_process: object) -> None:
        time.now += 400  # it crashes 400 s after its start

    async with reaping() as reaper:
        supervisor = crashing(reaper, time, exits, on_start=runs_400_s)
        task = asyncio.create_task(supervisor.run())
        try:
            async with asyncio.timeout(30):
                while len(time.sleeps) < 6:
                    assert not task.done(), task
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert time.sleeps[:6] == [1, 1, 1, 1, 1, 1]
    assert supervisor.crashes >= 6


async def test_a_planned_restart_is_no_crash() -> None:
    """request_restart() stops the running Asterisk (SIGTERM) and starts a new one at once:
    no backoff, no crash counted."""
    time, exits = Time(), []
    started: list[int | None] = []
    async with reaping() as reaper:
        supervisor = crashing(
            reaper, time, exits, mode="runs", on_start=lambda p: started.append(p.pid)
        )
        task = asyncio.create_task(supervisor.run())
        try:
            async with asyncio.timeout(20):
                while len(started) < 1:
                    await asyncio.sleep(0.01)
                supervisor.request_restart()
                while len(started) < 2:
                    await asyncio.sleep(0.01)
        finally:
            supervisor.stopping = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if supervisor.current is not None:
                supervisor.current.kill()
    assert started[0] != started[1]
    assert exits[:1] == [-15]
    assert (supervisor.restarts, supervisor.crashes, time.sleeps) == (0, 0, [])


async def test_every_start_waits_for_the_gate() -> None:
    """before_start (the address gate) is awaited before each start, restarts included: no
    process exists until it returns."""
    time, exits = Time(), []
    gate, calls = asyncio.Event(), []

    async def before_start() -> None:
        calls.append(len(exits))
        await gate.wait()

    async with reaping() as reaper:
        supervisor = crashing(reaper, time, exits, before_start=before_start)
        task = asyncio.create_task(supervisor.run())
        try:
            async with asyncio.timeout(20):
                while not calls:
                    await asyncio.sleep(0.01)
                assert supervisor.current is None
                gate.set()
                with pytest.raises(CrashLoop):
                    await task
        finally:
            task.cancel()
    assert calls == [0, 1, 2, 3]
