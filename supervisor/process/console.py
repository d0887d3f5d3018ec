"""Asterisk's remote console (`asterisk -rx`) over its control socket: for the few commands that
have no AMI action we want to grant (`core stop gracefully`, `manager reload`)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Sequence

from supervisor.process.reaper import Reaper


def spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    # A fork+exec returns at once; the wait goes through the reaper, never through Popen.
    return subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def run_command(argv: Sequence[str], reaper: Reaper, timeout_s: float = 5.0) -> int:
    """Run one console command to completion; its exit status (non-zero: no Asterisk there)."""
    process = spawn(argv)
    exited = reaper.watch(process.pid)
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.shield(exited)
    except TimeoutError:
        process.kill()
        raise
