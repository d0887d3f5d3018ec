"""The lab itself: a real Asterisk, sipp and network namespaces behave as the other tests assume."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lab import netns, sipp
from lab.asterisk import wait_until
from lab.fixtures import MinimalPbx
from lab.netns import Lab

pytestmark = pytest.mark.lab


def registration_status(pbx: MinimalPbx) -> list[str]:
    assert pbx.ami is not None
    reply = pbx.ami.action({"Action": "PJSIPShowRegistrationsOutbound"})
    return [m["Status"] for m in reply if m.get("Event") == "OutboundRegistrationDetail"]


def test_namespaces_route_only_among_lab_hosts(lab: Lab) -> None:
    """Doorbell reaches the pod over IPv4, provider over IPv6; nothing else is reachable."""
    assert lab.run("doorbell", ["ping", "-c1", "-W2", netns.POD_V4], check=False).returncode == 0
    assert lab.run("provider", ["ping", "-c1", "-W2", netns.POD_V6], check=False).returncode == 0
    # The provider is IPv6-only and the doorbell IPv4-only: no path between them.
    assert (
        lab.run("provider", ["ping", "-c1", "-W1", netns.DOORBELL_V4], check=False).returncode != 0
    )
    # The scanner reaches the pod over both families, like any host on the internet.
    assert lab.run("scanner", ["ping", "-c1", "-W2", netns.POD_V4], check=False).returncode == 0
    assert lab.run("scanner", ["ping", "-c1", "-W2", netns.POD_V6], check=False).returncode == 0
    # No route out of the lab: an address outside it is unreachable from the pod.
    assert lab.run("pod", ["ping", "-c1", "-W1", "203.0.113.99"], check=False).returncode != 0


def test_setup_is_idempotent(lab: Lab) -> None:
    """A second up() keeps the same namespaces working."""
    lab.up()
    assert len(netns.namespaces_with_prefix(lab.prefix)) == len(netns.HOSTS) + 1
    assert lab.run("doorbell", ["ping", "-c1", "-W2", netns.POD_V4], check=False).returncode == 0


def test_asterisk_boots_and_ami_login_works(minimal_pbx: MinimalPbx) -> None:
    """Asterisk from the sid tree starts in the pod and AMI answers on the pod's loopback."""
    minimal_pbx.start()
    assert minimal_pbx.ami is not None
    reply = minimal_pbx.ami.action({"Action": "CoreSettings"})
    assert reply[0]["Response"] == "Success"
    assert reply[0]["AsteriskVersion"].startswith("22.")


def test_trunk_registers_over_ipv6_with_digest(minimal_pbx: MinimalPbx) -> None:
    """The outbound registration reaches Registered at the sipp registrar over IPv6."""
    minimal_pbx.registrar()
    minimal_pbx.start()
    wait_until(
        lambda: registration_status(minimal_pbx) == ["Registered"],
        20,
        interval=0.5,
        what="trunk registration",
    )


def test_doorbell_call_over_ipv4_and_its_events(minimal_pbx: MinimalPbx) -> None:
    """A sipp call from the IPv4-only doorbell is answered and hung up; AMI sees it."""
    minimal_pbx.start()
    call = sipp.call(
        minimal_pbx.lab,
        minimal_pbx.run,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:5060",
        "100",
        hold_ms=500,
    )
    minimal_pbx.started.add(call.stop)
    assert call.wait(30) == 0, call.output()[-2000:]
    assert minimal_pbx.ami is not None
    ami = minimal_pbx.ami
    wait_until(lambda: any(e["Event"] == "Hangup" for e in ami.events), 5, what="Hangup event")
    channel = [e for e in ami.events if e["Event"] == "Newchannel"]
    assert channel
    assert channel[0]["Channel"].startswith("PJSIP/doorbell-")
    uniqueid = channel[0]["Uniqueid"]
    states = [
        e["ChannelStateDesc"]
        for e in ami.events
        if e["Event"] == "Newstate" and e["Uniqueid"] == uniqueid
    ]
    assert "Up" in states  # answered
    assert any(e["Event"] == "Hangup" and e["Uniqueid"] == uniqueid for e in ami.events)


def mounts() -> str:
    return Path("/proc/mounts").read_text()


def test_teardown_leaves_nothing(minimal_pbx: MinimalPbx) -> None:
    """After teardown no namespace, process or mount of the run is left."""
    lab = minimal_pbx.lab
    minimal_pbx.registrar()
    minimal_pbx.start()
    pids = netns.pids_in(lab.pod) + netns.pids_in(lab.provider)
    assert pids
    minimal_pbx.started.stop_all()
    minimal_pbx.started.stoppers.clear()
    lab.down()
    assert netns.namespaces_with_prefix(lab.prefix) == []
    assert lab.prefix not in mounts()
    time.sleep(0.1)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
