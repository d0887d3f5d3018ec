"""The record through the real entrypoint, across a pod restart: the supervisor process runs
Asterisk (examples/home), calls are answered by the PBX, the pod stops, and a new supervisor and
a new Asterisk start on the same volume: the history still holds the earlier calls, /calls and
`asterisk-supervisor calls` show them, and the new process counts only its own calls."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lab import netns, sipp
from lab.asterisk import RunDir, wait_until
from lab.fixtures import Started
from lab.netns import Lab
from lab.paths import REPO
from lab.supervisor import SupervisorRun, read_dir

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"
ANSWERED = {"direction": "internal", "trunk": "", "outcome": "answered"}


def site() -> dict[str, str]:
    """examples/home whose doorbell calls the PBX answers itself (no phone needed)."""
    files = read_dir(EXAMPLE / "site")
    files["site.yaml"] = files["site.yaml"].replace(
        "    context: doorbell\n", "    context: answer-test\n"
    ) + (
        "\nraw:\n  extensions.conf: |\n    [answer-test]\n    exten => _X.,1,Answer()\n"
        "     same => n,Wait(20)\n     same => n,Hangup()\n"
    )
    return files


def doorbell_calls(lab: Lab, run: RunDir, started: Started, n: int, name: str) -> None:
    call = sipp.call(
        lab,
        run,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:5060",
        "100",
        calls=n,
        hold_ms=300,
        name=name,
    )
    started.add(call.stop)
    assert call.wait(40) == 0, call.output()[-1500:]


def history(sup: SupervisorRun) -> list[dict[str, object]]:
    status, body = sup.get("/calls?since=1h")
    assert status == 200, body
    calls = json.loads(body)["calls"]
    assert isinstance(calls, list)
    return calls


def test_the_record_survives_a_pod_restart(lab: Lab, run_dir: RunDir, started: Started) -> None:
    """Two calls in the first pod, one in the second: the second pod's history has all three,
    newest first; its counter counts its own call only; the CLI reads the same record."""
    secrets = read_dir(EXAMPLE / "secrets")
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    started.add(registrar.stop)
    first = SupervisorRun(lab, run_dir, site(), secrets)
    started.add(first.stop)
    first.start().wait_ready(40)
    doorbell_calls(lab, run_dir, started, 2, "first-pod")
    wait_until(lambda: len(history(first)) == 2, 10, what="two calls on the record")
    assert first.metric("asterisk_supervisor_calls_total", ANSWERED) == 2
    assert first.stop() == 0

    second = SupervisorRun(lab, run_dir, site(), secrets)
    started.add(second.stop)
    second.start().wait_ready(40)
    assert [c["outcome"] for c in history(second)] == ["answered", "answered"]
    doorbell_calls(lab, run_dir, started, 1, "second-pod")
    wait_until(lambda: len(history(second)) == 3, 10, what="the third call on the record")
    calls = history(second)
    assert [c["to"] for c in calls] == ["100"] * 3
    assert calls[0]["started"] >= calls[1]["started"]  # type: ignore[operator]
    assert second.metric("asterisk_supervisor_calls_total", ANSWERED) == 1
    status, page = second.get("/")  # the page a person opens lists them too
    assert status == 200
    assert page.count("<td>internal</td>") == 3
    record = run_dir.path("spool") / "records" / "calls.db"
    done = subprocess.run(
        [sys.executable, "-m", "supervisor", "calls", "--record", str(record), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["calls"] == calls
