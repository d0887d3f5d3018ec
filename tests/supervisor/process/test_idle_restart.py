"""Restart-when-idle: a restart-required change restarts Asterisk once no call is active, or at
the deadline; never while draining; never for a change no longer pending."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from supervisor.process.idle_restart import RestartWhenIdle


class World:
    def __init__(self) -> None:
        self.pending: list[str] = []
        self.busy = False
        self.draining = False
        self.restarts = 0

    def restarter(self, deadline_s: float = 60.0) -> RestartWhenIdle:
        def restart() -> None:
            self.restarts += 1

        return RestartWhenIdle(
            pending=lambda: self.pending,
            busy=lambda: self.busy,
            restart=restart,
            deadline_s=deadline_s,
            stopping=lambda: self.draining,
            poll_s=0.01,
        )


@contextlib.asynccontextmanager
async def running(restarter: RestartWhenIdle) -> AsyncIterator[None]:
    task = asyncio.create_task(restarter.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
def world() -> World:
    return World()


async def test_idle_restarts_at_once_and_only_once(world: World) -> None:
    """No active call: one restart right after the wake-up, none more while it is pending."""
    restarter = world.restarter()
    async with running(restarter):
        world.pending = ["transport udp6 changed"]
        restarter.wake(world.pending)
        await until(lambda: world.restarts == 1)
        await asyncio.sleep(0.1)
    assert world.restarts == 1


async def test_waits_for_the_calls_to_end(world: World) -> None:
    """An active call holds the restart back until it ends."""
    restarter = world.restarter()
    world.busy = True
    async with running(restarter):
        world.pending = ["x"]
        restarter.wake(world.pending)
        await asyncio.sleep(0.1)
        assert world.restarts == 0
        world.busy = False
        await until(lambda: world.restarts == 1)


async def test_deadline_restarts_despite_calls(world: World) -> None:
    """At the deadline Asterisk restarts even with calls active."""
    restarter = world.restarter(deadline_s=0.1)
    world.busy = True
    async with running(restarter):
        world.pending = ["x"]
        restarter.wake(world.pending)
        await until(lambda: world.restarts == 1)


async def test_no_restart_when_reverted_or_draining(world: World) -> None:
    """A change reverted before the calls end, or a pod draining, restarts nothing."""
    restarter = world.restarter()
    world.busy = True
    async with running(restarter):
        world.pending = ["x"]
        restarter.wake(world.pending)
        await asyncio.sleep(0.05)
        world.pending = []
        world.busy = False
        await asyncio.sleep(0.1)
        world.pending, world.draining = ["y"], True
        restarter.wake(world.pending)
        await asyncio.sleep(0.1)
    assert world.restarts == 0


def test_waking_with_no_reasons_does_nothing(world: World) -> None:
    """wake(()) (a restart no longer needed) does not arm the restart."""
    restarter = world.restarter()
    restarter.wake(())
    assert not restarter._wakeup.is_set()
