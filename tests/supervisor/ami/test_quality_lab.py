"""Call quality with real audio and real impairment: a real Asterisk 22, sipp parties that talk
both ways (a PCMU tone from lab/audio.py) and ip6tables rules in the lab's router namespace
between the provider (IPv6) and the pod. `tc netem` is not available in this kernel; iptables'
`statistic` match gives random loss and a plain DROP gives one-way audio.

Calls: inbound (the provider calls DID 100, which rings phone1 in the doorbell namespace) and
outbound (the doorbell dials 20, out through the trunk to the provider's far end). Each test sets
its own rules and removes them; counters are compared as deltas, so any test runs alone.

Measured accuracy (docs/call-quality.md): Asterisk's loss counter lags by up to one RTCP
interval (1 s as rendered), so a call's measured ratio is the applied one minus up to 1/talk-time
of it; the assertion allows 1.5 percentage points around what iptables really dropped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import audio, sipp
from lab.amipbx import AmiLab
from lab.asterisk import wait_until, write_config
from lab.netns import DOORBELL_V4, POD_V4, POD_V6, PROVIDER_V6
from lab.rtcp import RtcpResponder
from supervisor.ami.quality import CallQuality
from supervisor.render.context import RenderContext
from supervisor.render.core import render_rtp
from supervisor.site.model import Site

pytestmark = pytest.mark.lab

RTP_PORTS = "10000:10100"  # lab.minimal's rtp range, kept by the rendered rtp.conf below
INBOUND = {"direction": "inbound", "trunk": "provider"}
OUTBOUND = {"direction": "outbound", "trunk": "provider"}
TALK_MS = 4500
# The talking far ends replace the module PBX's silent ones: (name, host, address, SIP port,
# media port). Media ports are unique per namespace (sipp sends its RTP from them and binds the
# next even port for video); each far end's RTCP port (media + 1) gets a receiver-report
# responder that holds its answers RTT_HOLD seconds, so the callee legs have a known RTT.
FAR_ENDS = (
    ("phone1", "doorbell", DOORBELL_V4, 5071, 17000),
    ("answer", "provider", PROVIDER_V6, 5070, 17004),
)
RTT_HOLD = 0.05


class QualityLab(AmiLab):
    quality: CallQuality
    _talks = 0
    #: (Event, Variable) of every dialplan-class event the supervisor's user received.
    dialplan_events: list[tuple[str, str]]

    def attach_quality(self) -> None:
        """The AMI slice's call quality (wired by supervisor.app.build_ami), and a record of the
        dialplan-class events the supervisor's user receives."""

        def attach() -> None:
            assert self.client is not None
            assert self.ami is not None
            self.quality = self.ami.quality
            self.dialplan_events = []
            for name in ("VarSet", "Newexten"):
                self.client.subscribe(
                    name, lambda e: self.dialplan_events.append((e["Event"], e.get("Variable", "")))
                )

        self.on_loop(attach)

    def talking_far_ends(self) -> None:
        for name, host, address, port, media in FAR_ENDS:
            responder = RtcpResponder(
                self.lab.ns(host), address, media + 1, ssrc=audio.DEFAULT_SSRC, hold=RTT_HOLD
            )
            self.stoppers.append(responder.start().stop)
            self.far_ends[name].stop()
            uas = sipp.Sipp(self.lab, self.run, host, [], name=f"uas-audio-{name}")
            uas.args = ["-sf", uas.scenario("uas_answer_audio.xml"), "-i", address]
            uas.args += ["-p", str(port), "-mp", str(media), "-m", "1000000", "-d", "300"]
            uas.args += ["-t", "u1"]
            self.far_ends[name] = self._launch(uas)

    def talk(self, direction: str, calls: int, hold_ms: int = TALK_MS) -> sipp.Sipp:
        """`calls` concurrent calls whose caller plays the tone for hold_ms."""
        self._talks += 1
        if direction == "inbound":
            host, address, target, exten = "provider", PROVIDER_V6, f"[{POD_V6}]:5060", "100"
        else:
            host, address, target, exten = "doorbell", DOORBELL_V4, f"{POD_V4}:5060", "20"
        uac = sipp.Sipp(self.lab, self.run, host, [], name=f"uac-audio-{self._talks}")
        uac.args = [target, "-sf", uac.scenario("uac_audio.xml"), "-s", exten, "-i", address]
        uac.args += ["-p", "0", "-mp", str(18000 + 4 * self._talks), "-m", str(calls)]
        uac.args += ["-l", str(calls), "-r", "50", "-d", str(hold_ms)]
        uac.args += ["-timeout", "40s", "-timeout_error"]
        return self._launch(uac)

    def ip6tables(self, *rule: str) -> subprocess.CompletedProcess[str]:
        return self.lab.run("router", ["ip6tables", *rule])

    def media_rule(self) -> list[str]:
        """Provider -> pod RTP in the router (SIP on 5060 is untouched)."""
        return ["FORWARD", "-s", PROVIDER_V6, "-d", POD_V6, "-p", "udp", "--dport", RTP_PORTS]


@pytest.fixture(scope="module")
def pbx(rootfs: Path) -> Iterator[QualityLab]:
    the_lab = QualityLab(rootfs)
    try:
        # The product's rtp.conf (its 1 s RTCP interval is what keeps the loss counter fresh),
        # over lab.minimal's port range.
        context = RenderContext(ami_secret=the_lab.ami_secret, rtp_start=10000, rtp_end=10100)
        write_config(the_lab.run, {"rtp.conf": render_rtp(Site.model_construct(), context)})
        the_lab.talking_far_ends()
        the_lab.start_asterisk()
        the_lab.start_supervisor()
        the_lab.attach_quality()
        the_lab.wait_booted()
        wait_until(lambda: the_lab.on_loop(lambda: bool(the_lab.state.peers.endpoints)), 10)
        yield the_lab
    finally:
        the_lab.close()


@pytest.fixture
def impairment(pbx: QualityLab) -> Iterator[QualityLab]:
    """The router's ip6tables FORWARD chain is emptied after the test, whatever happened."""
    try:
        yield pbx
    finally:
        pbx.ip6tables("-F", "FORWARD")


def snapshot(pbx: QualityLab) -> dict[str, float]:
    names = {
        "one_way_in": ("asterisk_supervisor_calls_one_way_media_total", INBOUND),
        "one_way_out": ("asterisk_supervisor_calls_one_way_media_total", OUTBOUND),
        "loss_n_in": ("asterisk_supervisor_call_packet_loss_ratio_count", INBOUND),
        "loss_sum_in": ("asterisk_supervisor_call_packet_loss_ratio_sum", INBOUND),
        "loss_n_out": ("asterisk_supervisor_call_packet_loss_ratio_count", OUTBOUND),
        "loss_sum_out": ("asterisk_supervisor_call_packet_loss_ratio_sum", OUTBOUND),
        "loss_01_in": (
            "asterisk_supervisor_call_packet_loss_ratio_bucket",
            {**INBOUND, "le": "0.01"},
        ),
        "loss_08_in": (
            "asterisk_supervisor_call_packet_loss_ratio_bucket",
            {**INBOUND, "le": "0.08"},
        ),
        "jitter_n_in": ("asterisk_supervisor_call_jitter_seconds_count", INBOUND),
        "rtt_n_in": ("asterisk_supervisor_call_rtt_seconds_count", INBOUND),
        "rtt_sum_in": ("asterisk_supervisor_call_rtt_seconds_sum", INBOUND),
        "rtt_n_out": ("asterisk_supervisor_call_rtt_seconds_count", OUTBOUND),
        "rtt_sum_out": ("asterisk_supervisor_call_rtt_seconds_sum", OUTBOUND),
        "mes_n_in": ("asterisk_supervisor_call_media_experience_score_count", INBOUND),
        "calls_in": ("asterisk_supervisor_calls_total", {**INBOUND, "outcome": "answered"}),
        "calls_out": ("asterisk_supervisor_calls_total", {**OUTBOUND, "outcome": "answered"}),
    }
    return {k: pbx.value(name, **labels) or 0.0 for k, (name, labels) in names.items()}


def settle(
    pbx: QualityLab, before: dict[str, float], inbound: int, outbound: int
) -> dict[str, float]:
    """Wait until the calls are counted as ended, then the deltas."""

    def counted() -> bool:
        now = snapshot(pbx)
        return (
            now["calls_in"] - before["calls_in"] >= inbound
            and now["calls_out"] - before["calls_out"] >= outbound
        )

    wait_until(counted, 15, interval=0.2, what="the calls to end")
    after = snapshot(pbx)
    return {k: after[k] - before[k] for k in after}


def finish(*uacs: sipp.Sipp) -> None:
    for uac in uacs:
        assert uac.wait(40) == 0, uac.output()[-1500:]


def test_healthy_calls_have_no_loss_and_no_one_way(pbx: QualityLab) -> None:
    """Audio both ways, no impairment: loss about 0 in both directions (under 1 %: a stray
    packet on this shared 2-core machine is not the network), jitter and MES observed, no
    one-way count; the RTCP round trip is the far ends' 50 ms hold (+ up to 40 ms of scheduling on
    this shared machine); of the dialplan class only the 4 legs' RTPAUDIOQOS reached us."""
    before = snapshot(pbx)
    seen = pbx.on_loop(lambda: len(pbx.dialplan_events))
    finish(pbx.talk("inbound", 1), pbx.talk("outbound", 1))
    d = settle(pbx, before, 1, 1)
    dialplan = pbx.on_loop(lambda: pbx.dialplan_events[seen:])
    assert dialplan == [("VarSet", "RTPAUDIOQOS")] * 4
    assert d["loss_n_in"] == 1
    assert d["loss_n_out"] == 1
    assert d["loss_01_in"] == 1
    assert d["loss_sum_in"] <= 0.01
    assert d["loss_sum_out"] <= 0.01
    assert d["jitter_n_in"] == 1
    assert d["mes_n_in"] == 1
    assert d["one_way_in"] + d["one_way_out"] == 0
    print(f"RTT held {RTT_HOLD} s, measured {d['rtt_sum_in']:.4f} s in, {d['rtt_sum_out']:.4f} out")
    assert d["rtt_n_in"] == 1
    assert d["rtt_n_out"] == 1
    for rtt in (d["rtt_sum_in"], d["rtt_sum_out"]):
        assert RTT_HOLD <= rtt <= RTT_HOLD + 0.04


def test_rtp_dropped_toward_the_pod_is_one_way_in_the_right_direction(
    impairment: QualityLab,
) -> None:
    """Provider -> pod RTP dropped: the inbound call's caller and the outbound call's callee
    were silent, each counted once under its direction and listed in /status."""
    pbx = impairment
    pbx.ip6tables("-I", *pbx.media_rule(), "-j", "DROP")
    before = snapshot(pbx)
    finish(pbx.talk("inbound", 1), pbx.talk("outbound", 1))
    d = settle(pbx, before, 1, 1)
    assert d["one_way_in"] == 1
    assert d["one_way_out"] == 1
    recent = pbx.on_loop(lambda: list(pbx.quality.recent)[-2:])
    silent = {(c.direction, c.silent, c.endpoints) for c in recent}
    assert silent == {("inbound", "caller", ("provider",)), ("outbound", "callee", ("provider",))}
    status = pbx.on_loop(pbx.quality.status)
    newest = status["recent_one_way_calls"]
    assert isinstance(newest, list)
    assert {(c["direction"], c["trunk"], c["silent"]) for c in newest[:2]} == {
        ("inbound", "provider", "caller"),
        ("outbound", "provider", "callee"),
    }


def test_random_loss_shows_in_the_loss_histogram(impairment: QualityLab) -> None:
    """About 5 % random loss toward the pod: every call lands between 1 % and 8 %, and the mean
    measured ratio is within 1.5 points of what iptables really dropped."""
    pbx = impairment
    pbx.ip6tables(
        "-I",
        *pbx.media_rule(),
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        "0.05",
        "-j",
        "DROP",
    )
    pbx.ip6tables("-I", *pbx.media_rule())  # counts every packet, before the drop rule
    before = snapshot(pbx)
    calls = 4
    finish(pbx.talk("inbound", calls, hold_ms=8000))
    d = settle(pbx, before, calls, 0)
    counters = pbx.ip6tables("-nvxL", "FORWARD").stdout.splitlines()
    total = int(next(line for line in counters if "DROP" not in line and "udp" in line).split()[0])
    dropped = int(next(line for line in counters if "DROP" in line).split()[0])
    applied = dropped / total
    measured = d["loss_sum_in"] / d["loss_n_in"]
    print(f"loss applied {applied:.4f} ({dropped}/{total}), measured mean {measured:.4f}")
    assert d["loss_n_in"] == calls
    assert d["loss_08_in"] - d["loss_01_in"] == calls
    assert abs(measured - applied) <= 0.015
    assert d["one_way_in"] == 0


def test_repaired_path_gives_clean_calls(impairment: QualityLab) -> None:
    """A call while RTP toward the pod is dropped is one-way; once the rule is gone the next
    call is clean (no one-way, loss under 1 %)."""
    pbx = impairment
    pbx.ip6tables("-I", *pbx.media_rule(), "-j", "DROP")
    before = snapshot(pbx)
    finish(pbx.talk("inbound", 1))
    d = settle(pbx, before, 1, 0)
    assert d["one_way_in"] == 1
    pbx.ip6tables("-F", "FORWARD")
    before = snapshot(pbx)
    finish(pbx.talk("inbound", 1))
    d = settle(pbx, before, 1, 0)
    assert d["one_way_in"] == 0
    assert d["loss_01_in"] == 1
