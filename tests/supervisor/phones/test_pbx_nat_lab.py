"""The PBX behind a NAT router (nat.pbx), on the lab's real Asterisk 22: the router forwards SIP
and the RTP range of its external address to the pod and lets nothing reach the pod's own
address from outside; a device calling the external address is answered (an Echo() from a raw
snippet, its module loaded because the snippet uses it) and hears its own audio back, which
works only if Asterisk gave it the external address in SIP and SDP."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import netns, sipp
from lab.fixtures import Started
from lab.harness import LabHarness
from lab.phonekeys import PacketCounter
from tests.supervisor.render.test_asterisk_loads import Pbx, boot

pytestmark = pytest.mark.lab

#: The router's external address, on its side towards the doorbell's network.
EXTERNAL_V4 = "198.51.100.1"
DOORBELL_MEDIA_PORT = 16030
SITE = f"""\
addresses:
  ipv6: {netns.POD_V6}
  ipv4: {netns.POD_V4}
nat:
  pbx:
    external_ipv4: {EXTERNAL_V4}
    local_networks: [203.0.113.0/24]
endpoints:
  gate:
    identify: [{netns.DOORBELL_V4}]
    family: ipv4
    context: echo
    codecs: [ulaw]
    qualify: 0
raw:
  extensions.conf: |
    [echo]
    exten => 100,1,Answer()
     same => n,Echo()
"""


def router_nat(pbx: Pbx) -> None:
    lab, pod = pbx.lab, netns.POD_V4
    lab.run("router", ["ip", "addr", "add", f"{EXTERNAL_V4}/32", "dev", "door0"])
    dnat = ["iptables", "-t", "nat", "-A", "PREROUTING", "-d", EXTERNAL_V4, "-p", "udp"]
    lab.run("router", [*dnat, "--dport", "5060", "-j", "DNAT", "--to-destination", pod])
    lab.run("router", [*dnat, "--dport", "10000:20000", "-j", "DNAT", "--to-destination", pod])
    snat = ["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", pod, "-o", "door0"]
    lab.run("router", [*snat, "-j", "SNAT", "--to-source", EXTERNAL_V4])
    # From outside, only what the router forwards reaches the pod's own address.
    inbound = ["iptables", "-A", "FORWARD", "-i", "door0", "-d", pod]
    state = ["-m", "conntrack", "--ctstate", "DNAT,ESTABLISHED,RELATED"]
    lab.run("router", [*inbound, *state, "-j", "ACCEPT"])
    lab.run("router", [*inbound, "-j", "DROP"])


@pytest.fixture(scope="module")
def pbx(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    harness = LabHarness(rootfs)
    started = Started()
    try:
        site_dir = tmp_path_factory.mktemp("site")
        (site_dir / "site.yaml").write_text(SITE)
        secret_dir = tmp_path_factory.mktemp("secrets")
        (secret_dir / "unused").write_text(secrets.token_hex(8))
        the_pbx = boot(harness.lab, harness.run, started, site_dir, secret_dir)
        router_nat(the_pbx)
        yield the_pbx
    finally:
        try:
            started.stop_all()
        finally:
            harness.close()


def test_a_call_to_the_external_address_has_audio_both_ways(pbx: Pbx) -> None:
    """The doorbell calls the router's external address: answered, and its audio comes back
    (Echo) through the router, so SIP and SDP named the external address."""
    assert pbx.asterisk.problems() == []
    heard = PacketCounter(pbx.lab, "doorbell", netns.DOORBELL_V4, DOORBELL_MEDIA_PORT)
    try:
        caller = sipp.call(
            pbx.lab,
            pbx.run,
            "doorbell",
            netns.DOORBELL_V4,
            f"{EXTERNAL_V4}:5060",
            "100",
            scenario="uac_audio.xml",
            hold_ms=3000,
            name="nat-caller",
            extra=["-mp", str(DOORBELL_MEDIA_PORT)],
        )
        assert caller.wait(30) == 0, caller.output()[-2000:]
        assert heard.packets() >= 50
    finally:
        heard.close()
