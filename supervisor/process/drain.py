"""Graceful call drain on pod termination.

Asterisk's own SIGTERM handling cuts every call. `core stop gracefully` (over the control socket,
so the supervisor's AMI user needs no `command` privilege) makes Asterisk refuse new calls and
exit by itself once the active ones have ended; we only enforce the deadline."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Sequence

from supervisor.process.asterisk import AsteriskProcess
from supervisor.process.reaper import Reaper

log = logging.getLogger(__name__)


def spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    # A fork+exec returns at once; the wait goes through the reaper, never through Popen.
    return subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def run_cli(argv: Sequence[str], reaper: Reaper, timeout_s: float = 10.0) -> int:
    """Run `asterisk -rx ...`; its exit status through the reaper (which owns waitpid)."""
    process = spawn(argv)
    exited = reaper.watch(process.pid)
    try:
        return await asyncio.wait_for(exited, timeout_s)
    except TimeoutError:
        process.kill()
        raise


async def drain(
    process: AsteriskProcess,
    *,
    stop_gracefully: Sequence[str],
    reaper: Reaper,
    deadline_s: float,
    force: asyncio.Event,
    grace_s: float = 5.0,
) -> int | None:
    """Ask Asterisk to finish its calls and exit; stop it hard at the deadline or on `force`.
    Returns Asterisk's exit code."""
    if process.exited is None or process.exited.done():
        return process.exited.result() if process.exited else None
    try:
        status = await run_cli(stop_gracefully, reaper)
        if status != 0:
            log.warning("`core stop gracefully` failed (status %d): stopping Asterisk now", status)
            return await process.stop(grace_s)
    except (OSError, TimeoutError) as exc:
        log.warning("could not ask Asterisk to stop gracefully (%s): stopping it now", exc)
        return await process.stop(grace_s)
    log.info(
        "draining: Asterisk refuses new calls and exits when the active ones end (deadline %.0f s)",
        deadline_s,
    )
    async def forced_stop() -> int:
        await force.wait()
        return 0

    forced = asyncio.create_task(forced_stop(), name="drain-force")
    assert process.exited is not None
    try:
        done, _ = await asyncio.wait(
            [process.exited, forced], timeout=deadline_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        forced.cancel()
    if process.exited.done():
        log.info("drain complete: Asterisk exited after its calls ended")
        return await process.wait()
    why = "second termination signal" if forced in done else "drain deadline reached"
    log.warning("%s: stopping Asterisk now, cutting the remaining calls", why)
    return await process.stop(grace_s)
