"""Call quality from RTPAUDIOQOS: strict parsing, per-call loss/jitter/RTT/MES, one-way audio,
the metrics and the /status section, fed through AsteriskState as the AMI client feeds it."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from supervisor.ami.quality import (
    LOSS_BUCKETS,
    RECENT_ONE_WAY,
    parse_rtpqos,
)
from supervisor.app import build_ami, build_core
from supervisor.metrics.exposition import render
from supervisor.metrics.quality import QualityCollector
from supervisor.settings import Settings
from tests.supervisor.ami import events as ev

# Values as Asterisk 22.10 wrote them in the lab (one leg each).
HEALTHY = (
    "ssrc=1592590337;themssrc=1592590337;lp=0;rxjitter=0.000000;rxcount=400;txjitter=0.000125;"
    "txcount=380;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=88.087887"
)
LOSSY = (
    "ssrc=1629300420;themssrc=1592590337;lp=16;rxjitter=0.000000;rxcount=380;txjitter=0.000000;"
    "txcount=400;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=85.945610"
)
SILENT = (
    "ssrc=207806904;themssrc=0;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000;txcount=200;"
    "rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000"
)
WITH_RTCP = (
    "ssrc=1;themssrc=2;lp=2;rxjitter=0.004000;rxcount=998;txjitter=0.003500;txcount=1000;"
    "rlp=1;rtt=0.042000;rxmes=87.000000;txmes=86.500000"
)


def varset(name: str, uid: str, linked: str, value: str, state: str = "6") -> dict[str, str]:
    return {
        "Event": "VarSet",
        "Privilege": "dialplan,all",
        **ev.chan(name, uid, linked, state),
        "Variable": "RTPAUDIOQOS",
        "Value": value,
    }


class Pbx:
    """The product's AMI slice (supervisor.app.build_ami): state with call quality attached."""

    def __init__(self) -> None:
        ami = build_ami(build_core(Settings(config_dirs=())))
        self.state, self.quality = ami.state, ami.quality
        self.state.calls.set_trunks({"provider": "provider"})

    def feed(self, msg: dict[str, str], now: float) -> None:
        self.state.event(msg, now)
        if msg["Event"] == "VarSet":  # the client's subscription, after the state
            self.quality.varset(msg)

    def call(
        self,
        caller: tuple[str, str],
        callee: tuple[str, str] | None,
        *,
        talk: float,
        start: float = 1000.0,
        linked: str = "1.0",
    ) -> None:
        """A two-leg (or one-leg) answered call; each leg is (channel, RTPAUDIOQOS value)."""
        legs = [(caller[0], linked, caller[1])]
        if callee is not None:
            legs.append((callee[0], linked[:-1] + "1", callee[1]))
        for name, uid, _ in legs:
            self.feed(ev.newchannel(name, uid, linked), start)
        for name, uid, _ in legs:
            self.feed(ev.up(name, uid, linked), start + 1)
        for name, uid, value in legs:
            self.feed(varset(name, uid, linked, value), start + 1 + talk)
            self.feed(ev.hangup(name, uid, linked), start + 1 + talk)

    def sample(self, name: str, **labels: str) -> float | None:
        registry = CollectorRegistry()
        QualityCollector.register(registry, self.quality)
        return registry.get_sample_value(name, labels)


INBOUND = {"direction": "inbound", "trunk": "provider"}
OUTBOUND = {"direction": "outbound", "trunk": "provider"}
INTERNAL = {"direction": "internal", "trunk": ""}


def test_parses_asterisk_values() -> None:
    """The lab's real values parse into received/sent/lost/jitter, RTT and MES only when set."""
    lossy = parse_rtpqos(LOSSY)
    assert lossy is not None
    assert (lossy.received, lossy.sent, lossy.lost) == (380, 400, 16)
    assert lossy.loss_ratio == pytest.approx(16 / 396)
    assert lossy.rtt is None
    assert lossy.mes == pytest.approx(85.94561)
    rtcp = parse_rtpqos(WITH_RTCP)
    assert rtcp is not None
    assert rtcp.jitter == pytest.approx(0.0035)
    assert rtcp.rtt == pytest.approx(0.042)
    silent = parse_rtpqos(SILENT)
    assert silent is not None
    assert silent.received == 0
    assert silent.loss_ratio is None
    assert silent.mes is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "lp=0;rxcount=1;txcount=1",  # no txjitter
        HEALTHY + ";lp=3",  # a key twice
        HEALTHY + ";",  # empty pair
        HEALTHY.replace("lp=0", "lp=-1"),
        HEALTHY.replace("lp=0", "lp=1e9"),
        HEALTHY.replace("lp=0", "lp=4294967296"),  # above 32 bits
        HEALTHY.replace("lp=0", "lp=4294967295"),  # -1 printed unsigned
        HEALTHY.replace("lp=0", "lp=0.5"),  # a counter with a fraction
        HEALTHY.replace("txjitter=0.000125", "txjitter=nan"),
        HEALTHY.replace("txjitter=0.000125", "txjitter=99999.0"),
        HEALTHY.replace("txmes=88.087887", "txmes=101.0"),
        HEALTHY.replace(";", "; "),
        HEALTHY + "\nEvent: Hangup",  # header injection attempt through a Set()
        "lp=0;" * 200,  # long
        HEALTHY.replace("lp=0", "LP=0"),
    ],
)
def test_rejects_anything_asterisk_does_not_write(value: str) -> None:
    """Values a dialplan Set() could fake (malformed, out of range, oversized) parse to None."""
    assert parse_rtpqos(value) is None


def test_rejected_values_are_counted_and_ignored() -> None:
    """A malformed RTPAUDIOQOS counts as rejected and feeds no histogram."""
    pbx = Pbx()
    pbx.call(("PJSIP/provider-00000001", "lp=oops"), None, talk=5)
    assert pbx.sample("asterisk_supervisor_call_quality_rejected_total") == 1
    assert pbx.sample("asterisk_supervisor_call_packet_loss_ratio_count", **INBOUND) == 0
    assert pbx.sample("asterisk_supervisor_calls_one_way_media_total", **INBOUND) == 0


def test_healthy_call_observes_zero_loss_and_no_one_way() -> None:
    """Both parties' audio arrived: loss 0 in the lowest bucket, jitter and MES observed."""
    pbx = Pbx()
    pbx.call(("PJSIP/provider-00000001", HEALTHY), ("PJSIP/desk-00000002", HEALTHY), talk=8)
    assert pbx.sample("asterisk_supervisor_call_packet_loss_ratio_count", **INBOUND) == 1
    assert pbx.sample("asterisk_supervisor_call_packet_loss_ratio_sum", **INBOUND) == 0
    assert pbx.sample("asterisk_supervisor_call_packet_loss_ratio_bucket", **INBOUND, le="0.0") == 1
    assert pbx.sample("asterisk_supervisor_call_jitter_seconds_sum", **INBOUND) == pytest.approx(
        0.000125
    )
    assert pbx.sample("asterisk_supervisor_call_media_experience_score_count", **INBOUND) == 1
    assert pbx.sample("asterisk_supervisor_call_rtt_seconds_count", **INBOUND) == 0
    assert pbx.sample("asterisk_supervisor_calls_one_way_media_total", **INBOUND) == 0
    assert pbx.quality.pending_calls == 0


def test_loss_is_the_worst_legs_and_rtt_only_where_rtcp_gave_one() -> None:
    """Per call: the worst leg's loss ratio and RTT, the lowest MES."""
    pbx = Pbx()
    pbx.call(("PJSIP/desk-00000001", WITH_RTCP), ("PJSIP/provider-00000002", LOSSY), talk=8)
    assert pbx.sample(
        "asterisk_supervisor_call_packet_loss_ratio_sum", **OUTBOUND
    ) == pytest.approx(16 / 396)
    assert (
        pbx.sample("asterisk_supervisor_call_packet_loss_ratio_bucket", **OUTBOUND, le="0.05") == 1
    )
    assert pbx.sample("asterisk_supervisor_call_rtt_seconds_sum", **OUTBOUND) == pytest.approx(
        0.042
    )
    assert pbx.sample(
        "asterisk_supervisor_call_media_experience_score_sum", **OUTBOUND
    ) == pytest.approx(85.94561)


@pytest.mark.parametrize(
    ("caller", "callee", "silent", "endpoints"),
    [
        (SILENT, HEALTHY, "caller", ("provider",)),
        (HEALTHY, SILENT, "callee", ("desk",)),
        (SILENT, SILENT, "both", ("desk", "provider")),
    ],
)
def test_one_way_names_the_silent_party(
    caller: str, callee: str, silent: str, endpoints: tuple[str, ...]
) -> None:
    """A party whose RTP never reached Asterisk makes the call one-way, and /status says whose."""
    pbx = Pbx()
    pbx.call(("PJSIP/provider-00000001", caller), ("PJSIP/desk-00000002", callee), talk=8)
    assert pbx.sample("asterisk_supervisor_calls_one_way_media_total", **INBOUND) == 1
    (recent,) = pbx.quality.recent
    assert (recent.direction, recent.trunk, recent.silent) == ("inbound", "provider", silent)
    assert recent.endpoints == endpoints
    status = pbx.quality.status()
    assert status["one_way_calls_total"] == 1
    assert status["recent_one_way_calls"] == [
        {
            "at": "1970-01-01T00:16:49Z",
            "direction": "inbound",
            "trunk": "provider",
            "silent": silent,
            "silent_endpoints": list(endpoints),
            "talk_seconds": 8.0,
        }
    ]


def test_short_calls_and_unanswered_legs_are_not_one_way() -> None:
    """Under 3 s of talk, or a ring-group leg that never answered, says nothing about audio."""
    pbx = Pbx()
    pbx.call(("PJSIP/provider-00000001", SILENT), ("PJSIP/desk-00000002", HEALTHY), talk=2)
    # A losing ring-group leg: its statistics are taken while it is still ringing (state 5).
    pbx.feed(ev.newchannel("PJSIP/provider-00000003", "2.0"), 2000)
    pbx.feed(ev.up("PJSIP/provider-00000003", "2.0"), 2001)
    pbx.feed(ev.newchannel("PJSIP/kitchen-00000004", "2.1", "2.0", "5"), 2001)
    pbx.feed(varset("PJSIP/kitchen-00000004", "2.1", "2.0", SILENT, state="5"), 2001)
    pbx.feed(ev.hangup("PJSIP/kitchen-00000004", "2.1", "2.0"), 2001)
    pbx.feed(varset("PJSIP/provider-00000003", "2.0", "2.0", HEALTHY), 2010)
    pbx.feed(ev.hangup("PJSIP/provider-00000003", "2.0"), 2010)
    assert pbx.sample("asterisk_supervisor_calls_one_way_media_total", **INBOUND) == 0
    assert pbx.sample("asterisk_supervisor_call_packet_loss_ratio_count", **INBOUND) == 2


def test_series_exist_for_every_configured_direction_and_trunk_before_any_call() -> None:
    """Zero-valued series for internal and for inbound/outbound of each trunk, nothing else."""
    pbx = Pbx()
    text = render_quality(pbx)
    for labels in ('direction="internal",trunk=""', 'direction="inbound",trunk="provider"'):
        assert f"asterisk_supervisor_calls_one_way_media_total{{{labels}}} 0.0" in text
    assert 'direction="outbound",le="+Inf",trunk="provider"} 0.0' in text
    assert text.count("asterisk_supervisor_calls_one_way_media_total{") == 3
    assert f'le="{LOSS_BUCKETS[1]}"' in text


def render_quality(pbx: Pbx) -> str:
    registry = CollectorRegistry()
    QualityCollector.register(registry, pbx.quality)
    return render(registry).decode()


def test_memory_is_bounded() -> None:
    """Statistics of calls that never end, and the /status list, stay bounded."""
    pbx = Pbx()
    for n in range(12_000):
        pbx.quality.varset(varset("PJSIP/desk-00000001", f"{n}.0", f"{n}.0", HEALTHY))
    assert pbx.quality.pending_calls <= 10_000
    for n in range(RECENT_ONE_WAY + 5):
        pbx.call(
            ("PJSIP/provider-00000001", SILENT),
            ("PJSIP/desk-00000002", HEALTHY),
            talk=5,
            start=5000.0 + 100 * n,
            linked=f"9{n}.0",
        )
    status = pbx.quality.status()
    assert status["one_way_calls_total"] == RECENT_ONE_WAY + 5
    recent = status["recent_one_way_calls"]
    assert isinstance(recent, list)
    assert len(recent) == RECENT_ONE_WAY
    assert recent[0]["at"] > recent[-1]["at"]  # newest first
