"""Asterisk as a supervised child: crash restarts, crash loops, console output, reaping."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.asterisk import Asterisk
from lab.fixtures import MinimalPbx
from supervisor.process.asterisk import AsteriskSupervisor, CrashLoop, RestartPolicy, describe_exit
from supervisor.process.reaper import Reaper, become_subreaper


def test_describe_exit_names_the_signal() -> None:
    """A negative exit code is reported as the signal that killed the process."""
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(3) == "exited with status 3"


async def test_reaper_reaps_orphans_and_reports_watched_children() -> None:
    """Orphans re-parented to us are reaped; a watched child's exit code reaches its waiter."""
    assert become_subreaper()
    reaper = Reaper()
    task = asyncio.create_task(reaper.run(), name="reaper")
    try:
        # A double fork: the grandchild is orphaned and re-parented to us (the subreaper).
        orphaner = subprocess.Popen(["sh", "-c", "(sleep 0.2; exit 0) & exit 0"])
        watched = reaper.watch(orphaner.pid)
        assert await asyncio.wait_for(watched, 5) == 0
        deadline = time.monotonic() + 5
        while reaper.orphans_reaped < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert reaper.orphans_reaped >= 1
        zombies = [
            p
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and _is_zombie_child(p, os.getpid())
        ]
        assert zombies == []
    finally:
        task.cancel()


def _is_zombie_child(proc: Path, parent: int) -> bool:
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] == "Z" and int(fields[1]) == parent


@pytest.mark.lab
async def test_crash_is_restarted_then_a_crash_loop_gives_up(
    minimal_pbx: MinimalPbx, caplog: pytest.LogCaptureFixture
) -> None:
    """kill -9 of Asterisk restarts it and counts the restart; too many crashes raise CrashLoop."""
    caplog.set_level(logging.INFO)
    lab_asterisk = Asterisk(minimal_pbx.lab, minimal_pbx.run)
    reaper = Reaper()
    reaper_task = asyncio.create_task(reaper.run(), name="reaper")
    supervisor = AsteriskSupervisor(
        argv=lab_asterisk.argv(),
        reaper=reaper,
        policy=RestartPolicy(max_restarts=2, window_s=60, backoff_initial_s=0.1),
    )
    run = asyncio.create_task(supervisor.run(), name="asterisk")
    try:
        pids: list[int] = []
        for _ in range(3):
            deadline = time.monotonic() + 10
            while not (
                supervisor.running and supervisor.current and supervisor.current.pid not in pids
            ):
                assert time.monotonic() < deadline, "Asterisk was not (re)started"
                await asyncio.sleep(0.05)
            assert supervisor.current is not None
            assert supervisor.current.pid is not None
            pids.append(supervisor.current.pid)
            # Killed once it has printed something (under load that takes longer than 0.5 s).
            while not any(r.name == "asterisk" for r in caplog.records):
                assert time.monotonic() < deadline + 20, "Asterisk printed nothing"
                await asyncio.sleep(0.05)
            os.kill(supervisor.current.pid, signal.SIGKILL)
        with pytest.raises(CrashLoop):
            await asyncio.wait_for(run, 10)
        assert supervisor.restarts == 2
        assert "killed by SIGKILL" in caplog.text
        # Asterisk's console output became log records of the `asterisk` logger.
        assert any(r.name == "asterisk" for r in caplog.records)
    finally:
        supervisor.stopping = True
        if supervisor.current:
            await supervisor.current.stop()
        run.cancel()
        reaper_task.cancel()


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux process semantics")


async def test_relaying_a_flood_of_output_lets_other_tasks_run() -> None:
    """60 KB of lines already buffered in Asterisk's pipe (within its 64 KiB): while they are
    relayed, other tasks (the HTTP probes) get a turn of the event loop per chunk."""
    from supervisor.process.asterisk import CHUNK, forward_output

    read_fd, write_fd = os.pipe()
    data = b"".join(b"%049d\n" % i for i in range(1_200))
    os.write(write_fd, data)
    os.close(write_fd)
    ticks = 0
    relayed = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not relayed.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    with os.fdopen(read_fd, "rb") as pipe:
        await forward_output(pipe)
    relayed.set()
    await task
    assert ticks >= len(data) // CHUNK


async def test_screened_lines_are_kept_but_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A line the screen takes (None) never becomes a log record, the others are logged as the
    screen returns them; every line reaches `keep`, the last one without a newline too, and a
    line longer than MAX_LINE is relayed in bounded pieces."""
    from supervisor.process.asterisk import MAX_LINE, forward_output

    read_fd, write_fd = os.pipe()
    long = b"x" * (MAX_LINE + 10)

    def write() -> None:
        with os.fdopen(write_fd, "wb") as out:
            out.write(b"counted 1\nrelayed 1\ncounted 2\n" + long + b"\nrelayed 2")

    writer = asyncio.get_running_loop().run_in_executor(None, write)
    kept: list[str] = []
    caplog.set_level(logging.INFO, "asterisk")
    with os.fdopen(read_fd, "rb") as pipe:
        await forward_output(
            pipe, kept.append, lambda line: None if line.startswith("counted") else line
        )
    await writer
    logged = [r.getMessage() for r in caplog.records if r.name == "asterisk"]
    assert [line for line in logged if len(line) < 100] == ["relayed 1", "relayed 2"]
    assert all(len(line) <= 2 * MAX_LINE for line in logged)
    assert "".join(line for line in logged if line.startswith("x")) == long.decode()
    assert kept[:3] == ["counted 1", "relayed 1", "counted 2"]
    assert kept[-1] == "relayed 2"
