"""Asterisk's remote console (`asterisk -rx`) over its control socket: for the few commands that
have no AMI action we want to grant (`core stop gracefully`, `manager reload`)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Sequence

from supervisor.process.reaper import Reaper

log = logging.getLogger(__name__)


def spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    # A fork+exec returns at once; the wait goes through the reaper, never through Popen.
    return subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def run_command(
    argv: Sequence[str], reaper: Reaper, timeout_s: float = 5.0, *, kill: bool = True
) -> int:
    """Run one console command; its exit status (non-zero: no Asterisk there). TimeoutError
    when it is still running after `timeout_s` (killed, unless `kill` is False: a remote console
    that stays connected can be the success, see drain.py)."""
    process = spawn(argv)
    exited = reaper.watch(process.pid)
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.shield(exited)
    except TimeoutError:
        if kill:
            process.kill()
        raise


async def reload_manager_config(argv: Sequence[str], reaper: Reaper) -> bool:
    """Sidecar mode: Asterisk may outlive us, so make it read the AMI secret of this boot (over
    the shared control socket). No Asterisk yet is fine: it reads the secret when it starts.
    True when the running Asterisk reloaded its manager config."""
    try:
        status = await run_command(argv, reaper)
    except (OSError, TimeoutError) as exc:
        log.info("manager reload in the running Asterisk not possible: %s", exc)
        return False
    if status == 0:
        log.info("the running Asterisk reloaded its manager config (this boot's AMI secret)")
    return status == 0
