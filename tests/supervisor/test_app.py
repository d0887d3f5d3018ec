"""The entrypoint end to end: the supervisor process in the pod namespace starts a real Asterisk,
gets ready, restarts it after crashes, reaps orphans and drains calls on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import netns, sipp
from lab.asterisk import Asterisk, RunDir, wait_until
from lab.fixtures import Started
from lab.netns import Lab
from lab.paths import REPO
from lab.supervisor import SupervisorRun, read_dir

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"

# The doorbell's calls answered by the PBX itself, so a call can last as long as a test needs
# without a phone; the raw snippet is the site model's escape hatch.
ANSWERING_SITE_PATCH = (("    context: doorbell\n", "    context: answer-test\n"),)
ANSWERING_RAW = """
raw:
  extensions.conf: |
    [answer-test]
    exten => _X.,1,Answer()
     same => n,Wait(60)
     same => n,Hangup()
"""


def example_site(answering: bool = False) -> dict[str, str]:
    site = read_dir(EXAMPLE / "site")
    if answering:
        text = site["site.yaml"]
        for old, new in ANSWERING_SITE_PATCH:
            assert old in text
            text = text.replace(old, new)
        site["site.yaml"] = text + ANSWERING_RAW
    return site


@pytest.fixture
def supervisor_factory(
    lab: Lab, run_dir: RunDir, started: Started
) -> Iterator[type[SupervisorRun]]:
    made: list[SupervisorRun] = []
    secrets = read_dir(EXAMPLE / "secrets")
    # The provider is up: Asterisk registers, and un-REGISTERs when it stops gracefully.
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    started.add(registrar.stop)

    class Factory(SupervisorRun):
        def __init__(self, extra_args: list[str] | None = None, answering: bool = False) -> None:
            super().__init__(lab, run_dir, example_site(answering), secrets, list(extra_args or []))
            made.append(self)

    yield Factory
    for run in made:
        run.stop()


def call(
    lab: Lab, run: RunDir, started: Started, name: str, hold_ms: int, timeout_s: int = 40
) -> sipp.Sipp:
    c = sipp.call(
        lab,
        run,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:5060",
        "100",
        hold_ms=hold_ms,
        name=name,
        timeout_s=timeout_s,
    )
    started.add(c.stop)
    return c


def test_ready_then_sigterm_without_calls_exits_at_once(
    supervisor_factory: type[SupervisorRun],
) -> None:
    """Cold start gets ready; SIGTERM with no call exits 0 without waiting for the drain
    deadline (600 s: the exit is awaited far less long, so only an early exit passes)."""
    sup = supervisor_factory(["--drain-timeout", "600"]).start()
    sup.wait_ready(30)
    status = sup.status()
    assert status["ready"] is True
    names = {c["name"] for c in status["checks"]}
    assert {"config", "asterisk booted", "ami", "address 2001:db8:e8b1::1:1"} <= names
    assert sup.metric("asterisk_supervisor_asterisk_up") == 1.0
    sup.signal(signal.SIGTERM)
    assert sup.wait(60) == 0
    assert "drain complete: Asterisk exited after its calls ended" in sup.output()
    assert "drain deadline reached" not in sup.output()


def test_sigterm_drains_an_active_call_and_refuses_new_ones(
    lab: Lab, run_dir: RunDir, started: Started, supervisor_factory: type[SupervisorRun]
) -> None:
    """SIGTERM mid-call: not ready while the call is still up, a new doorbell call is refused,
    the running 20 s call completes normally, and the supervisor exits 0 when it ends, not at
    the drain deadline (120 s, longer than every wait here)."""
    sup = supervisor_factory(["--drain-timeout", "120"], answering=True).start()
    sup.wait_ready(30)
    active = call(lab, run_dir, started, "long", hold_ms=20_000)
    wait_until(
        lambda: sup.metric("asterisk_supervisor_channels_active") == 1.0,
        10,
        what="the call to be up",
    )
    sup.signal(signal.SIGTERM)
    wait_until(lambda: sup.get("/readyz")[0] == 503, 10, interval=0.02, what="not ready")
    assert active.process.poll() is None, "the call ended before readiness dropped"
    refused = call(lab, run_dir, started, "refused", hold_ms=1000, timeout_s=8)
    assert refused.wait(20) != 0, "a new call was accepted while draining"
    assert active.wait(40) == 0, active.output()[-1500:]
    assert sup.wait(20) == 0
    assert "drain complete: Asterisk exited after its calls ended" in sup.output()
    assert "drain deadline reached" not in sup.output()


def test_kill_9_restarts_asterisk_and_a_crash_loop_exits_non_zero(
    lab: Lab, supervisor_factory: type[SupervisorRun]
) -> None:
    """kill -9 of Asterisk: restarted, ready again, restart counted; then repeated crashes make
    the supervisor exit non-zero so Kubernetes restarts the pod."""
    sup = supervisor_factory(["--max-restarts", "2", "--restart-window", "120"]).start()
    sup.wait_ready(30)
    (first,) = netns.asterisk_pids(lab.pod)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not sup.ready(), 5, interval=0.02, what="not ready after the crash")
    sup.wait_ready(30)
    assert netns.asterisk_pids(lab.pod) != [first]
    assert sup.metric("asterisk_supervisor_asterisk_restarts_total") == 1.0
    killed = {first}
    for _ in range(2):
        # A new Asterisk, not the one just killed (it lingers until reaped).
        wait_until(
            lambda: len(set(netns.asterisk_pids(lab.pod)) - killed) == 1,
            30,
            what="Asterisk running again",
        )
        time.sleep(0.3)
        (pid,) = set(netns.asterisk_pids(lab.pod)) - killed
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
    assert sup.wait(30) == 3
    assert "giving up so that Kubernetes restarts the pod" in sup.output()


def test_orphans_in_the_process_tree_are_reaped(
    lab: Lab, run_dir: RunDir, supervisor_factory: type[SupervisorRun]
) -> None:
    """A process orphaned below Asterisk is re-parented to the supervisor and reaped. The orphan
    lives until the test lets it go (a flag file), not for a time the start-up could outlast."""
    wrapper = run_dir.host / "asterisk-with-orphan"
    pid_file, flag = run_dir.host / "orphan.pid", run_dir.host / "orphan.go"
    orphan = (
        f"echo $$ > {run_dir.inside(pid_file)}; "
        f"while [ ! -e {run_dir.inside(flag)} ]; do sleep 0.05; done"
    )
    wrapper.write_text(f"#!/bin/sh\n(sh -c '{orphan}' &)\nexec /usr/sbin/asterisk \"$@\"\n")
    wrapper.chmod(0o755)
    sup = supervisor_factory(["--asterisk-binary", run_dir.inside(wrapper)]).start()
    sup.wait_ready(30)
    assert sup.process is not None
    me = sup.process.pid
    wait_until(
        lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(),
        10,
        what="the orphan's pid",
    )
    pid = int(pid_file.read_text())

    def stat() -> tuple[str, int] | None:
        """The orphan's state and parent; None once it is gone (reaped)."""
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = text[text.rindex(")") + 2 :].split()
        return fields[0], int(fields[1])

    # The orphan now belongs to the supervisor (a child subreaper), not to init.
    now = stat()
    assert now is not None
    assert now[1] == me, now
    flag.touch()
    # It exits: then it must be reaped (gone from /proc, not left a zombie).
    wait_until(lambda: stat() is None, 30, what="the orphan exited and reaped")
    assert sup.ready()


def test_secrets_never_reach_logs_status_or_metrics(
    supervisor_factory: type[SupervisorRun],
) -> None:
    """Neither the per-boot AMI secret nor any Secret value appears in the log, /status or
    /metrics; the rendered files holding them are not world-readable."""
    sup = supervisor_factory(["--log-level", "DEBUG"]).start()
    sup.wait_ready(30)
    etc = sup.run.path("etc")
    manager = (etc / "manager.conf").read_text()
    ami_secret = re.search(r"^secret\s*=\s*(\S+)", manager, re.M)
    assert ami_secret is not None
    values = [ami_secret.group(1), *(v.strip() for v in read_dir(EXAMPLE / "secrets").values())]
    exposed = sup.output() + sup.get("/status")[1] + sup.get("/status?format=json")[1]
    exposed += sup.get("/metrics")[1]
    for value in values:
        assert value not in exposed
    for name in ("manager.conf", "pjsip.conf"):
        assert (etc / name).stat().st_mode & 0o007 == 0


def test_json_logs_are_one_object_per_line(supervisor_factory: type[SupervisorRun]) -> None:
    """--log-format json: every line of output is a JSON object with ts, level, logger, msg."""
    sup = supervisor_factory(["--log-format", "json"]).start()
    sup.wait_ready(30)
    lines = [line for line in sup.output().splitlines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= entry.keys()
    assert any(json.loads(line)["logger"] == "asterisk" for line in lines)


def test_sidecar_mode_renders_and_follows_an_asterisk_it_does_not_start(
    lab: Lab, run_dir: RunDir, started: Started, supervisor_factory: type[SupervisorRun]
) -> None:
    """--mode sidecar: the config is rendered into the shared directory, no Asterisk is started;
    once another container's Asterisk boots on it the pod is ready, it follows its restarts, and
    a restarted supervisor gets the running Asterisk to accept its new AMI secret."""
    sup = supervisor_factory(["--mode", "sidecar"]).start()
    wait_until(lambda: (run_dir.path("etc") / "pjsip.conf").exists(), 15, what="rendered config")
    # Its AMI client has already failed to reach an Asterisk: it is running, and started none.
    wait_until(lambda: "AMI session to" in sup.output(), 30, what="an AMI attempt that fails")
    assert netns.asterisk_pids(lab.pod) == []
    assert not sup.ready()
    other = Asterisk(lab, run_dir).start()  # "the Asterisk container", on the shared volume
    started.add(other.stop)
    sup.wait_ready(30)
    other.stop()
    wait_until(lambda: not sup.ready(), 10, interval=0.05, what="not ready without Asterisk")
    assert sup.process is not None
    assert sup.process.poll() is None  # the supervisor does not exit: the other container restarts
    again = Asterisk(lab, run_dir).start()
    started.add(again.stop)
    sup.wait_ready(30)
    sup.signal(signal.SIGTERM)
    assert sup.wait(10) == 0
    assert again.alive()  # not ours to stop
    # A new supervisor (new per-boot AMI secret) with the same Asterisk still running: it makes
    # Asterisk reload its manager config and logs in.
    successor = supervisor_factory(["--mode", "sidecar"]).start()
    successor.wait_ready(30)
    assert "reloaded its manager config" in successor.output()


def doorbell_call(
    lab: Lab, run: RunDir, started: Started, name: str, port: int = 5060, timeout_s: int = 10
) -> int:
    c = sipp.call(
        lab,
        run,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:{port}",
        "100",
        hold_ms=300,
        name=name,
        timeout_s=timeout_s,
    )
    started.add(c.stop)
    return c.wait(timeout_s + 10)


def test_address_lost_then_back_readiness_follows_and_calls_recover(
    lab: Lab, run_dir: RunDir, started: Started, supervisor_factory: type[SupervisorRun]
) -> None:
    """The pod's IPv4 address removed at runtime: not ready, doorbell calls fail; restored: a
    res_pjsip reload restores the transport, ready again, doorbell calls answered."""
    sup = supervisor_factory(answering=True).start()
    sup.wait_ready(30)
    assert doorbell_call(lab, run_dir, started, "before") == 0
    lab.del_address("pod", f"{netns.POD_V4}/32")
    wait_until(lambda: not sup.ready(), 2, interval=0.02, what="not ready without the address")
    assert sup.metric("asterisk_supervisor_address_usable", {"address": netns.POD_V4}) == 0.0
    assert doorbell_call(lab, run_dir, started, "during", timeout_s=3) != 0
    lab.add_address("pod", f"{netns.POD_V4}/32")
    lab.default_routes("pod", v4=True, v6=False)  # as the CNI plugin sets the pod up again
    sup.wait_ready(10)
    wait_until(
        lambda: "reloading res_pjsip to restore transports" in sup.output(),
        5,
        what="the recovery reload",
    )
    assert doorbell_call(lab, run_dir, started, "after") == 0


def test_asterisk_is_not_restarted_while_a_required_address_is_missing(
    lab: Lab, supervisor_factory: type[SupervisorRun]
) -> None:
    """After a crash, Asterisk waits for the pod's addresses before it is started again."""
    sup = supervisor_factory().start()
    sup.wait_ready(30)
    lab.del_address("pod", f"{netns.POD_V6}/128")
    (pid,) = netns.asterisk_pids(lab.pod)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: "not starting Asterisk until" in sup.output(), 10, what="gating")
    assert set(netns.asterisk_pids(lab.pod)) <= {pid}
    lab.add_address("pod", f"{netns.POD_V6}/128")
    sup.wait_ready(30)
    assert set(netns.asterisk_pids(lab.pod)) - {pid}


def test_transport_change_restarts_asterisk_when_no_call_is_active(
    lab: Lab, run_dir: RunDir, started: Started, supervisor_factory: type[SupervisorRun]
) -> None:
    """A transport port change cannot be reloaded: it is reported as restart required, Asterisk
    is restarted at once since no call is active, and the new port then answers."""
    sup = supervisor_factory(answering=True).start()
    sup.wait_ready(30)
    (before,) = netns.asterisk_pids(lab.pod)
    site = example_site(answering=True)
    old = "  udp4: {family: ipv4, protocol: udp, port: 5060}\n"
    assert old in site["site.yaml"]
    site["site.yaml"] = site["site.yaml"].replace(old, old.replace("5060", "5080"))
    sup.update_site(site)
    wait_until(lambda: "restart required to apply" in sup.output(), 10, what="restart required")
    wait_until(lambda: set(netns.asterisk_pids(lab.pod)) - {before}, 20, what="Asterisk restarted")
    sup.wait_ready(30)
    wait_until(
        lambda: sup.metric("asterisk_supervisor_restart_required") == 0.0,
        10,
        what="restart no longer required",
    )
    assert doorbell_call(lab, run_dir, started, "new-port", port=5080) == 0
    assert sup.metric("asterisk_supervisor_asterisk_restarts_total") == 0.0  # planned, no crash


def test_require_registered_makes_readiness_wait_for_the_trunk(
    supervisor_factory: type[SupervisorRun],
) -> None:
    """--require-registered: the trunk's registration gates readiness (it is shown otherwise)."""
    sup = supervisor_factory(["--require-registered"]).start()
    sup.wait_ready(40)
    # Asterisk delays its first REGISTER by 1-10 s, long after AMI is up: ready means registered.
    assert sup.metric("asterisk_pjsip_outbound_registration_status") == 1.0
    trunk = next(c for c in sup.status()["checks"] if c["name"] == "trunk registration provider")
    assert trunk["gates_readiness"] is True


def test_a_live_trunk_host_and_pod_address_change_is_followed_by_status(
    lab: Lab, supervisor_factory: type[SupervisorRun]
) -> None:
    """A site swapped in with a new trunk host and a new pod address: /status checks the new
    address (not ready while it is missing from the pod, and the restart the new bind needs
    waits for it: the old Asterisk keeps running), then the egress toward the new host from the
    new address, on a restarted Asterisk."""
    new_pod, new_provider = "2001:db8:e8b1::1:2", "2001:db8:5060::20"
    sup = supervisor_factory().start()
    sup.wait_ready(30)

    def checks() -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in sup.status()["checks"]}

    assert checks()["egress provider ipv6"]["detail"] == (
        f"source {netns.POD_V6} toward {netns.PROVIDER_V6}"
    )
    site = example_site()
    text = site["site.yaml"].replace(netns.PROVIDER_V6, new_provider)
    site["site.yaml"] = text.replace(f"ipv6: {netns.POD_V6}", f"ipv6: {new_pod}")
    (before,) = netns.asterisk_pids(lab.pod)
    sup.update_site(site)
    wait_until(
        lambda: checks().get(f"address {new_pod}", {}).get("detail") == "missing",
        10,
        what="the new address checked (and missing)",
    )
    assert not sup.ready()
    wait_until(
        lambda: "restart waits until the new config's addresses are usable" in sup.output(),
        10,
        what="the restart held back",
    )
    assert netns.asterisk_pids(lab.pod) == [before]
    assert f"address {netns.POD_V6}" not in checks()
    lab.add_address("provider", f"{new_provider}/128")
    lab.route("provider", new_provider)
    lab.add_address("pod", f"{new_pod}/128")
    lab.route("pod", new_pod)
    lab.del_address("pod", f"{netns.POD_V6}/128")  # the pod's address moved
    wait_until(
        lambda: netns.asterisk_pids(lab.pod) not in ([], [before]),
        30,
        what="Asterisk restarted on the new config",
    )
    sup.wait_ready(30)
    now = checks()
    assert now[f"address {new_pod}"]["ok"] is True
    assert now["egress provider ipv6"] == {
        "name": "egress provider ipv6",
        "ok": True,
        "detail": f"source {new_pod} toward {new_provider}",
        "gates_readiness": False,
    }
