"""Restart-when-idle: a restart-required change restarts Asterisk once no call is active, or at
the deadline; never while draining; never for a change no longer pending. Virtual loop time
(looptime): the restarter's clock is the loop's, so each moment is asserted exactly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from supervisor.process.idle_restart import RestartWhenIdle

pytestmark = pytest.mark.looptime

POLL_S = 1.0  # the product's default


class World:
    def __init__(self) -> None:
        self.pending: list[str] = []
        self.busy = False
        self.draining = False
        self.restarts: list[float] = []  # loop times of the restarts

    def restarter(self, deadline_s: float = 600.0) -> RestartWhenIdle:
        loop = asyncio.get_running_loop()
        return RestartWhenIdle(
            pending=lambda: self.pending,
            busy=lambda: self.busy,
            restart=lambda: self.restarts.append(loop.time()),
            deadline_s=deadline_s,
            stopping=lambda: self.draining,
            poll_s=POLL_S,
            clock=loop.time,
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


async def at(moment: float, action: Callable[[], object] = lambda: None) -> None:
    """Let the loop run until `moment` (loop time), then do `action`."""
    await asyncio.sleep(moment - asyncio.get_running_loop().time())
    action()


@pytest.fixture
def world() -> World:
    return World()


async def test_idle_restarts_at_once_and_only_once(world: World) -> None:
    """No active call: one restart right at the wake-up, none more in the next hour while the
    reason is still pending (Asterisk has not booted the new config yet)."""
    restarter = world.restarter()
    start = asyncio.get_running_loop().time()
    async with running(restarter):
        world.pending = ["transport udp6 changed"]
        restarter.wake(world.pending)
        await at(start + 3600)
    assert world.restarts == [pytest.approx(start)]


async def test_waits_for_the_calls_to_end(world: World) -> None:
    """An active call holds the restart back; it happens at the first poll after the call ends."""
    restarter = world.restarter()
    world.busy = True
    start = asyncio.get_running_loop().time()
    async with running(restarter):
        world.pending = ["x"]
        restarter.wake(world.pending)
        await at(start + 42.5, lambda: setattr(world, "busy", False))
        await at(start + 100)
    assert world.restarts == [pytest.approx(start + 43.0)]


async def test_deadline_restarts_despite_calls(world: World) -> None:
    """At the deadline (the first poll at or after it) Asterisk restarts even with calls active,
    and not before."""
    restarter = world.restarter(deadline_s=120.0)
    world.busy = True
    start = asyncio.get_running_loop().time()
    async with running(restarter):
        world.pending = ["x"]
        restarter.wake(world.pending)
        await at(start + 1000)
    assert world.restarts == [pytest.approx(start + 120.0)]


async def test_no_restart_when_reverted_or_draining(world: World) -> None:
    """A change reverted before the calls end, or a pod draining, restarts nothing, even past
    the deadline."""
    restarter = world.restarter(deadline_s=60.0)
    world.busy = True
    start = asyncio.get_running_loop().time()
    async with running(restarter):
        world.pending = ["x"]
        restarter.wake(world.pending)
        await at(start + 10, lambda: setattr(world, "pending", []))
        await at(start + 20, lambda: setattr(world, "busy", False))
        world.pending, world.draining = ["y"], True
        restarter.wake(world.pending)
        await at(start + 1000)
    assert world.restarts == []


async def test_waking_with_no_reasons_does_nothing(world: World) -> None:
    """wake(()) (a restart no longer needed) does not restart, however long the loop runs."""
    restarter = world.restarter()
    start = asyncio.get_running_loop().time()
    async with running(restarter):
        world.pending = []
        restarter.wake(())
        await at(start + 3600)
    assert world.restarts == []


async def test_no_restart_before_the_new_addresses_are_usable(world: World) -> None:
    """A restart for a config whose addresses the pod does not hold yet waits for them (even
    past the deadline, with no call): it happens at the first poll once they are usable."""
    loop = asyncio.get_running_loop()
    usable = False
    restarter = RestartWhenIdle(
        pending=lambda: world.pending,
        busy=lambda: world.busy,
        restart=lambda: world.restarts.append(loop.time()),
        deadline_s=60.0,
        startable=lambda: usable,
        poll_s=POLL_S,
        clock=loop.time,
    )
    start = loop.time()
    async with running(restarter):
        world.pending = ["transport udp6 bind changed"]
        restarter.wake(world.pending)
        await at(start + 300.5)
        assert world.restarts == []
        usable = True
        await at(start + 400)
    assert world.restarts == [pytest.approx(start + 301.0)]
