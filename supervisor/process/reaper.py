"""PID 1 duty: reap every child, and hand the exit status of the ones we started to their waiters.

As the container's PID 1 (or as a child subreaper outside a container) we inherit every orphan in
the pod; unreaped, they stay zombies forever. One reaper owns every waitpid() in the process:
asyncio's own child watchers would race with it, so Asterisk is started with a plain Popen and
its exit status comes from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Outside a container (not PID 1), make orphans of our subtree ours to reap."""
    if os.getpid() == 1:
        return True
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


class Reaper:
    def __init__(self) -> None:
        self._waiters: dict[int, asyncio.Future[int]] = {}
        self._wake = asyncio.Event()
        self.orphans_reaped = 0

    def watch(self, pid: int) -> asyncio.Future[int]:
        """The future of pid's exit code (negative signal number when killed, as Popen does).
        Call right after the fork, before yielding to the loop, so no status can be missed."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters[pid] = future
        return future

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            waiter = self._waiters.pop(pid, None)
            if waiter is not None:
                if not waiter.done():
                    waiter.set_result(code)
            else:
                self.orphans_reaped += 1
                log.debug("reaped orphan pid %d (exit %d)", pid, code)

    async def run(self) -> None:
        """Reap on SIGCHLD, and every second in case a signal was coalesced or missed."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGCHLD, self._wake.set)
        try:
            while True:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races with the inner wait finishing, and this wait finishes on every
                # SIGCHLD (seen: a shutdown hung when Asterisk's exit met the cancel).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
                self._wake.clear()
                self.reap()
        finally:
            loop.remove_signal_handler(signal.SIGCHLD)
