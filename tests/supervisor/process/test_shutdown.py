"""The one shutdown path (process/shutdown.py, process/drain.py) against a real child process:
calls end before the deadline, the deadline expires, a second SIGTERM, an Asterisk that hangs
while draining, a refused graceful stop, and no Asterisk at all (sidecar)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from supervisor.process.asterisk import AsteriskSupervisor
from supervisor.process.reaper import Reaper
from supervisor.process.shutdown import Shutdown, Stopped
from tests.supervisor.process.fakeasterisk import reaping, supervised


def shutdown(
    asterisk: AsteriskSupervisor | None,
    reaper: Reaper,
    stop_gracefully: list[str],
    *,
    deadline_s: float,
    grace_s: float = 5.0,
) -> Shutdown:
    return Shutdown(
        asterisk=asterisk,
        reaper=reaper,
        stop_gracefully=stop_gracefully,
        deadline_s=deadline_s,
        grace_s=grace_s,
    )


async def stopped(down: Shutdown, within: float = 20.0) -> None:
    """run() ends the supervisor by raising Stopped (bounded: a hang fails the test)."""
    with pytest.raises(Stopped):
        await asyncio.wait_for(down.run(), within)


def exit_code(asterisk: AsteriskSupervisor) -> int:
    assert asterisk.current is not None
    assert asterisk.current.exited is not None
    return asterisk.current.exited.result()


async def test_calls_end_before_the_deadline(caplog: pytest.LogCaptureFixture) -> None:
    """The graceful stop is asked for, Asterisk finishes its calls and exits 0: the drain ends
    then (not at the deadline), draining is reported meanwhile."""
    caplog.set_level(logging.INFO)
    async with reaping() as reaper, supervised("drains", reaper) as asterisk:
        assert asterisk.current is not None
        graceful = ["kill", "-USR1", str(asterisk.current.pid)]
        down = shutdown(asterisk, reaper, graceful, deadline_s=600)
        assert [c.ok for c in down.checks()] == [True]
        down.on_signal("SIGTERM")
        await stopped(down)
        assert exit_code(asterisk) == 0
        assert down.is_draining()
        assert [c.ok for c in down.checks()] == [False]
    assert "drain complete" in caplog.text
    assert "deadline" not in caplog.text.replace("(deadline 600 s)", "")


async def test_the_deadline_expires_and_asterisk_is_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Calls still active at the drain deadline: Asterisk is stopped (SIGTERM) and the
    supervisor ends."""
    caplog.set_level(logging.INFO)
    async with reaping() as reaper, supervised("runs", reaper) as asterisk:
        down = shutdown(asterisk, reaper, ["true"], deadline_s=0.3)
        down.on_signal("SIGTERM")
        await stopped(down)
        assert exit_code(asterisk) == -15
    assert "drain deadline reached: stopping Asterisk now" in caplog.text


async def test_a_second_sigterm_stops_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """A second SIGTERM while draining cuts the drain short, long before its deadline (600 s;
    the test allows 20)."""
    caplog.set_level(logging.INFO)
    async with reaping() as reaper, supervised("runs", reaper) as asterisk:
        down = shutdown(asterisk, reaper, ["true"], deadline_s=600)
        down.on_signal("SIGTERM")
        running = asyncio.create_task(down.run())
        async with asyncio.timeout(10):
            while "draining: Asterisk refuses new calls" not in caplog.text:
                await asyncio.sleep(0.01)
        down.on_signal("SIGTERM")
        with pytest.raises(Stopped):
            await asyncio.wait_for(running, 20)
        assert exit_code(asterisk) == -15
    assert "SIGTERM again: stopping at once" in caplog.text
    assert "second termination signal: stopping Asterisk now" in caplog.text


async def test_an_asterisk_that_hangs_while_draining_is_killed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An Asterisk that ignores the stop at the deadline is killed after the grace period."""
    caplog.set_level(logging.INFO)
    async with reaping() as reaper, supervised("ignore-term", reaper) as asterisk:
        down = shutdown(asterisk, reaper, ["true"], deadline_s=0.2, grace_s=0.3)
        down.on_signal("SIGTERM")
        await stopped(down)
        assert exit_code(asterisk) == -9
    assert "Asterisk did not stop within 0 s: killing it" in caplog.text


async def test_a_refused_graceful_stop_stops_asterisk_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`core stop gracefully` failing (no control socket) stops Asterisk without waiting for
    the deadline."""
    caplog.set_level(logging.INFO)
    async with reaping() as reaper, supervised("runs", reaper) as asterisk:
        down = shutdown(asterisk, reaper, ["false"], deadline_s=600)
        down.on_signal("SIGTERM")
        await stopped(down)
        assert exit_code(asterisk) == -15
    assert "`core stop gracefully` was refused: stopping Asterisk now" in caplog.text


async def test_without_asterisk_the_supervisor_stops_at_once() -> None:
    """Sidecar mode (no Asterisk of ours): a SIGTERM ends the supervisor, nothing to drain."""
    down = shutdown(None, Reaper(), ["true"], deadline_s=600)
    down.on_signal("SIGTERM")
    await stopped(down, within=5)
    assert down.is_draining()
