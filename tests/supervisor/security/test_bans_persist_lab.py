"""Bans survive a crash of Asterisk and a restart of the supervisor: the scanner stays refused by
the next Asterisk, from its first request, without failing again."""

from __future__ import annotations

import os
import signal
import time

import pytest

from lab import netns, sipprobe
from lab.asterisk import RunDir, wait_until
from lab.fixtures import Started
from lab.netns import Lab
from lab.paths import REPO
from lab.supervisor import SupervisorRun, read_dir

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"
BLOCKED = "asterisk_supervisor_blocked_sources"


def refused(lab: Lab) -> bool:
    answer = sipprobe.options_in(lab, "scanner", netns.SCANNER_V4, netns.POD_V4, timeout=0.3)
    return answer is not None and answer.status == 403


def refused_once_answering(lab: Lab, timeout: float = 20.0) -> None:
    """Probe until Asterisk answers at all; its first answer must be the ACL's 403 (while it
    is still starting, probes go unanswered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = sipprobe.options_in(lab, "scanner", netns.SCANNER_V4, netns.POD_V4, timeout=0.3)
        if answer is not None:
            assert answer.status == 403, answer.raw
            return
    raise TimeoutError("Asterisk never answered the scanner")


def asterisk_pid(lab: Lab) -> int | None:
    return next(iter(netns.asterisk_pids(lab.pod)), None)


def test_bans_survive_asterisk_crash_and_supervisor_restart(
    lab: Lab, run_dir: RunDir, started: Started
) -> None:
    """A blocked scanner is refused by a crash-restarted Asterisk and, after the supervisor
    itself restarts, from the first request on (blocked gauge restored, no new failures)."""
    secrets = {k: v.strip() for k, v in read_dir(EXAMPLE / "secrets").items()}
    files = read_dir(EXAMPLE / "site")
    files["site.yaml"] += "\nsecurity:\n  max_failures: 3\n  ban_time: 600\n"
    sup = SupervisorRun(lab, run_dir, files, secrets)
    started.add(lambda: sup.stop())
    sup.start().wait_ready(40)
    for _ in range(3):
        sipprobe.register_in(lab, "scanner", netns.SCANNER_V4, netns.POD_V4, "desk", "guess")
    wait_until(lambda: refused(lab), 5, interval=0.05, what="the scanner refused")

    # Asterisk crashes: the supervisor restarts it, and it reads the
    # ban ACL from acl.conf (named, referred to from pjsip.conf).
    first = asterisk_pid(lab)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: asterisk_pid(lab) not in (None, first), 20, what="a new Asterisk")
    refused_once_answering(lab)

    # The supervisor restarts (its container): the ban comes back from the file.
    assert sup.stop() == 0
    again = SupervisorRun(lab, run_dir, files, secrets)
    started.add(lambda: again.stop())
    again.start().wait_ready(40)
    refused_once_answering(lab)
    assert again.metric(BLOCKED) == 1
    second_run = again.output().split("asterisk-supervisor starting")[-1]
    assert "1 blocked source(s) restored" in second_run
    assert (again.metric("asterisk_supervisor_blocks_total") or 0) == 0  # not blocked anew
