"""A stand-in for Asterisk as a real child process (a few lines of Python): what the process
supervisor and the shutdown path see of it (a pid, console lines, how it reacts to signals),
without root or the lab. The real Asterisk is in the lab tests (tests/supervisor/test_app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

from supervisor.process.asterisk import AsteriskSupervisor, RestartPolicy
from supervisor.process.reaper import Reaper

READY = "fake asterisk ready"

_SCRIPT = f"""
import signal, sys, time
mode = sys.argv[1]
if mode == "ignore-term":      # hangs: SIGTERM does nothing, only SIGKILL ends it
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "drains":           # SIGUSR1 (our `core stop gracefully`): calls end, exit 0
    signal.signal(signal.SIGUSR1, lambda *_: (time.sleep(0.1), sys.exit(0)))
print("{READY}", flush=True)
if mode.startswith("exit-"):
    sys.exit(int(mode[5:]))
while True:
    time.sleep(60)
"""


def argv(mode: str) -> list[str]:
    """`runs` (SIGTERM ends it), `ignore-term`, `drains` or `exit-N` (crashes with status N)."""
    return [sys.executable, "-c", _SCRIPT, mode]


@contextlib.asynccontextmanager
async def reaping() -> AsyncIterator[Reaper]:
    reaper = Reaper()
    task = asyncio.create_task(reaper.run(), name="reaper")
    try:
        yield reaper
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def supervised(mode: str, reaper: Reaper) -> AsyncIterator[AsteriskSupervisor]:
    """An AsteriskSupervisor running the fake, ready (its first line printed); stopped after."""
    supervisor = AsteriskSupervisor(argv=argv(mode), reaper=reaper, policy=RestartPolicy())
    task = asyncio.create_task(supervisor.run(), name="asterisk")
    try:
        async with asyncio.timeout(10):
            while not (supervisor.current and READY in supervisor.current.recent_output()):
                await asyncio.sleep(0.01)
        yield supervisor
    finally:
        supervisor.stopping = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if supervisor.current is not None:
            supervisor.current.kill()
