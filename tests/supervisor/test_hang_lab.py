"""The hang watchdog end to end: the real supervisor in the pod namespace, a real Asterisk frozen
with SIGSTOP (from outside, what a deadlocked Asterisk looks like), sipp calls."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

from lab import netns, sipp
from lab.asterisk import RunDir, wait_until
from lab.fixtures import Started
from lab.netns import Lab
from lab.supervisor import SupervisorRun, read_dir
from tests.supervisor.test_app import EXAMPLE, example_site

pytestmark = pytest.mark.lab

# Short for the test; the default (30 s) is justified in bench/reports/soak-long.md.
HANG_TIMEOUT = 3.0
BOOT_S = 15.0  # crash backoff (1 s) + Asterisk start, FullyBooted, re-sync, with slack


def resume(pid: int) -> None:
    """SIGCONT, in case the watchdog did not kill it (so that teardown can stop it)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def supervisor(
    lab: Lab, run_dir: RunDir, started: Started, *extra: str
) -> tuple[SupervisorRun, int]:
    secrets = read_dir(EXAMPLE / "secrets")
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    started.add(registrar.stop)
    args = ["--hang-timeout", f"{HANG_TIMEOUT:g}", *extra]
    sup = SupervisorRun(lab, run_dir, example_site(answering=True), secrets, args)
    started.add(sup.stop)
    sup.start().wait_ready(30)
    (pid,) = netns.asterisk_pids(lab.pod)
    # Until its first answer a process has the boot allowance (60 s), not the hang timeout.
    wait_until(
        lambda: f"Asterisk (pid {pid}) answers; watching it" in sup.output(),
        10,
        what="the watchdog's first answer",
    )
    return sup, pid


def doorbell_call(lab: Lab, run_dir: RunDir, started: Started, name: str) -> sipp.Sipp:
    call = sipp.call(
        lab,
        run_dir,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:5060",
        "100",
        hold_ms=300,
        name=name,
        timeout_s=15,
    )
    started.add(call.stop)
    return call


def test_frozen_asterisk_is_replaced_and_answers_calls_within_timeout_plus_boot(
    lab: Lab, run_dir: RunDir, started: Started
) -> None:
    """SIGSTOP Asterisk: within hang timeout + probe interval + boot a new Asterisk is ready and
    answers a call; the hang is logged once with thread states, counted, and restarted through
    the crash policy."""
    sup, frozen = supervisor(lab, run_dir, started)
    os.kill(frozen, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        try:
            wait_until(
                lambda: [p for p in netns.asterisk_pids(lab.pod) if p != frozen] and sup.ready(),
                2 * HANG_TIMEOUT + BOOT_S,
                interval=0.1,
                what="a new Asterisk, ready",
            )
        except TimeoutError:
            pytest.fail(f"not replaced in time:\n{sup.output()[-20000:]}")
        recovered = time.monotonic() - t0
    finally:
        resume(frozen)
    assert frozen not in netns.asterisk_pids(lab.pod)
    call = doorbell_call(lab, run_dir, started, "after-hang")
    assert call.wait(30) == 0, call.output()[-1500:]
    print(f"frozen -> new Asterisk ready in {recovered:.1f} s (hang timeout {HANG_TIMEOUT:g} s)")
    assert sup.metric("asterisk_supervisor_asterisk_hangs_total") == 1.0
    assert sup.metric("asterisk_supervisor_asterisk_restarts_total") == 1.0
    out = sup.output()
    hung = [line for line in out.splitlines() if "is hung" in line]
    assert len(hung) == 1, hung
    assert f"pid {frozen}" in hung[0]
    assert "(stopped)" in hung[0]  # the diagnostics read the threads' state from /proc
    assert "killed by SIGKILL" in out


def test_a_hang_while_draining_ends_the_drain_at_once(
    lab: Lab, run_dir: RunDir, started: Started
) -> None:
    """Asterisk frozen, then SIGTERM with a 60 s drain deadline: the watchdog kills the hung
    Asterisk and the supervisor exits well before the deadline."""
    sup, frozen = supervisor(lab, run_dir, started, "--drain-timeout", "60")
    os.kill(frozen, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        sup.signal(signal.SIGTERM)
        assert sup.wait(2 * HANG_TIMEOUT + 10) == 0
        ended = time.monotonic() - t0
    finally:
        resume(frozen)
    assert ended < 2 * HANG_TIMEOUT + 10 < 60
    out = sup.output()
    assert "is hung" in out
    assert "drain ended: Asterisk killed by SIGKILL" in out
    assert netns.asterisk_pids(lab.pod) == []
