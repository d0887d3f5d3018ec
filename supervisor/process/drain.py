"""Graceful call drain on pod termination.

Asterisk's own SIGTERM handling cuts every call. `core stop gracefully` (over the control socket,
so the supervisor's AMI user needs no `command` privilege) makes Asterisk refuse new calls
("Refusing due to active shutdown"), let the active ones finish, un-REGISTER its trunks and exit;
measured in the lab: exit about 2 s after the last call ended. We only enforce the deadline (an
unreachable registrar, for one, would hold the un-REGISTER for ~30 s)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from supervisor.process.asterisk import AsteriskProcess, describe_exit
from supervisor.process.console import run_command
from supervisor.process.reaper import Reaper

log = logging.getLogger(__name__)


async def request_graceful_stop(argv: Sequence[str], reaper: Reaper) -> bool:
    """Send `core stop gracefully` with `asterisk -rx`. The remote console stays connected until
    Asterisk exits, so success is "still connected, or exited 0, after a moment"; a quick
    non-zero exit means the control socket was unusable."""
    try:
        status = await run_command(argv, reaper, 1.0, kill=False)
    except TimeoutError:
        return True
    return status == 0


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
        accepted = await request_graceful_stop(stop_gracefully, reaper)
    except OSError as exc:
        log.warning("could not ask Asterisk to stop gracefully (%s): stopping it now", exc)
        return await process.stop(grace_s)
    if not accepted:
        log.warning("`core stop gracefully` was refused: stopping Asterisk now")
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
        code = await process.wait()
        if code == 0:
            log.info("drain complete: Asterisk exited after its calls ended")
        else:  # e.g. killed by the hang watchdog: a hung Asterisk ends the drain at once
            log.warning("drain ended: Asterisk %s", describe_exit(code))
        return code
    why = "second termination signal" if forced in done else "drain deadline reached"
    log.warning("%s: stopping Asterisk now, cutting the remaining calls", why)
    return await process.stop(grace_s)
