"""One-way audio through the real composition root: the supervisor as the pod's entrypoint
(examples/home), a doorbell call with audio while the router drops the doorbell's RTP toward the
pod; the call is counted one-way and `/status` lists it with the silent side."""

from __future__ import annotations

import pytest

from lab import netns, sipp
from lab.asterisk import RunDir, wait_until
from lab.fixtures import Started
from lab.netns import Lab
from lab.paths import REPO
from lab.supervisor import SupervisorRun, read_dir

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"
INTERNAL = {"direction": "internal", "trunk": ""}


def test_status_lists_a_one_way_doorbell_call(lab: Lab, run_dir: RunDir, started: Started) -> None:
    """The doorbell's RTP dropped in the router: one internal one-way call whose silent side is
    the caller (endpoint doorbell), in /status and in the counter."""
    secrets = read_dir(EXAMPLE / "secrets")
    site = read_dir(EXAMPLE / "site")
    # The doorbell's calls are answered by the PBX itself (no phone needed): Answer, then wait
    # for the doorbell to hang up.
    site["site.yaml"] = site["site.yaml"].replace(
        "    context: doorbell\n", "    context: answer-test\n"
    ) + (
        "\nraw:\n  extensions.conf: |\n    [answer-test]\n    exten => _X.,1,Answer()\n"
        "     same => n,Wait(20)\n     same => n,Hangup()\n"
    )
    # The provider answers, so that the shutdown's un-REGISTER does not wait for a timeout.
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    started.add(registrar.stop)
    sup = SupervisorRun(lab, run_dir, site, secrets)
    started.add(sup.stop)
    sup.start().wait_ready(40)
    drop = ["FORWARD", "-s", netns.DOORBELL_V4, "-p", "udp", "--dport", "10000:20000", "-j", "DROP"]
    lab.run("router", ["iptables", "-I", *drop])
    started.add(lambda: lab.run("router", ["iptables", "-D", *drop], check=False))
    call = sipp.call(
        lab,
        run_dir,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:5060",
        "100",
        hold_ms=4000,
        scenario="uac_audio.xml",
        extra=["-mp", "6000"],
    )
    started.add(call.stop)
    assert call.wait(40) == 0, call.output()[-1500:]
    wait_until(
        lambda: sup.metric("asterisk_supervisor_calls_one_way_media_total", INTERNAL) == 1,
        10,
        what="the one-way call counted",
    )
    section = sup.status()["call_quality"]
    assert section["one_way_calls_total"] == 1
    (recent,) = section["recent_one_way_calls"]
    assert recent["direction"] == "internal"
    assert recent["trunk"] == ""
    assert recent["silent"] == "caller"
    assert recent["silent_endpoints"] == ["doorbell"]
    assert recent["talk_seconds"] >= 3
    text = sup.get("/status")[1]
    assert "call_quality:" in text
    assert '"silent": "caller"' in text
