"""Call quality from Asterisk's own RTP statistics: loss, jitter, RTT, MES and one-way audio.

Where the numbers come from (docs/call-quality.md has the details and the measurements):
chan_pjsip calls `ast_rtp_instance_set_stats_vars()` on every PJSIP channel with an audio RTP
instance when its session ends (BYE received) or when Asterisk hangs it up, before the channel is
destroyed, so the `VarSet` event of `RTPAUDIOQOS` always precedes that channel's `Hangup` on the
AMI stream. Its value is one line of res_rtp_asterisk counters:

    ssrc=..;themssrc=..;lp=16;rxjitter=0.000000;rxcount=380;txjitter=0.000125;txcount=400;
    rlp=0;rtt=0.000000;rxmes=0.000000;txmes=85.945610

Naming is Asterisk's, and partly inverted: `lp` is the packets *we* lost receiving (as of the
last RTCP report *we* sent), `rxcount`/`txcount` the RTP packets we received/sent, `txjitter` the
jitter *we* measured on what we received (seconds), `rxjitter`/`rlp`/`rxmes` what the far end
reported in its RTCP receiver reports, `rtt` the RTCP round trip (0 without receiver reports), and
`txmes` our own media experience score (0 until we computed one at our first RTCP report).

One event per PJSIP channel, filtered at the source by an exact header match (subscription.py):
no dialplan code, no polling. The value is untrusted (a dialplan can `Set()` a variable of that
name): it is parsed strictly and bounded; anything else is counted as rejected and ignored.

Per answered call (AsteriskState says when a call ends, its direction and trunk), over the legs
that were answered (ChannelState Up when their statistics were taken):
- loss ratio: the worst leg's `lp / (lp + rxcount)`;
- jitter: the worst leg's received jitter; RTT: the worst RTCP round trip (where RTCP gave one);
- MES: the worst leg's own score (where Asterisk computed one);
- one-way: a call that talked for at least ONE_WAY_MIN_TALK seconds in which a leg's party
  reached Asterisk with fewer than SILENT_PACKETS_PER_SECOND packets per second of talk time:
  that party was silent (G.711 without silence suppression sends 50 per second).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from supervisor.ami.calls import DIRECTIONS, EndedCall, pjsip_endpoint
from supervisor.ami.fields import Histogram

Event = Mapping[str, str]

VARIABLE: Final = "RTPAUDIOQOS"

#: Talk time (answer to hangup) below which a call is too short to call silent.
ONE_WAY_MIN_TALK: Final = 3.0
#: Fewer RTP packets than this per second of talk time from a party: that party was silent.
SILENT_PACKETS_PER_SECOND: Final = 1.0
#: A leg contributes to loss and jitter only with this many packets expected (1 s of G.711):
#: a ratio over a handful of packets says nothing.
MIN_PACKETS: Final = 50

LOSS_BUCKETS: Final = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.2, 0.5)
JITTER_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)
RTT_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)
#: MES is 0-100; a perfect call scores 88.1 (G.107's R of 93.2 minus the fixed 10 ms latency).
MES_BUCKETS: Final = (20.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0, 88.0, 100.0)

RECENT_ONE_WAY: Final = 10  # one-way calls listed in /status
_PENDING_CALLS: Final = 10_000  # calls with statistics awaiting their end (oldest dropped)
_LEGS_PER_CALL: Final = 32  # legs kept per call (a ring group of more is still one call)
_MAX_VALUE_LEN: Final = 512  # the real value is ~170 characters
_MAX_COUNT: Final = 2**32 - 1  # res_rtp_asterisk's counters are unsigned 32-bit
_MAX_LOST: Final = 2**31 - 1  # above: a negative difference wrapped (a year of loss is 1.6e9)
_MAX_SECONDS: Final = 3600.0  # jitter and RTT above an hour are not measurements
_UP: Final = "6"

# The whole grammar in one match: 1-32 `key=number` pairs joined by `;` (Asterisk writes 11;
# a newer one may add some), numbers unsigned decimals, no sign, exponent, space or newline.
_PAIR = r"[a-z]{2,10}=[0-9]{1,10}(?:\.[0-9]{1,9})?"
_VALUE = re.compile(rf"{_PAIR}(?:;{_PAIR}){{0,31}}")
_REQUIRED: Final = ("lp", "rxcount", "txcount", "txjitter")
_INTEGER: Final = ("ssrc", "themssrc", "lp", "rxcount", "txcount", "rlp")


@dataclass(frozen=True, slots=True)
class RtpStats:
    """One channel's RTPAUDIOQOS, in our terms (received = what reached Asterisk)."""

    received: int  # RTP packets Asterisk received from this leg's party
    sent: int  # RTP packets Asterisk sent to it
    lost: int  # packets of its stream Asterisk never received (as of Asterisk's last RTCP report)
    jitter: float  # interarrival jitter Asterisk measured on what it received, seconds
    rtt: float | None  # RTCP round trip, when the party sent receiver reports
    mes: float | None  # Asterisk's media experience score of what it received (0-100)

    @property
    def loss_ratio(self) -> float | None:
        expected = self.lost + self.received
        return self.lost / expected if expected >= MIN_PACKETS else None


def parse_rtpqos(value: str) -> RtpStats | None:
    """Strictly parse an RTPAUDIOQOS value; None if it is not exactly what res_rtp_asterisk
    writes (`key=number` pairs joined by `;`, each key once, the counters present)."""
    if len(value) > _MAX_VALUE_LEN or _VALUE.fullmatch(value) is None:
        return None
    fields = dict(part.split("=", 1) for part in value.split(";"))
    if len(fields) != value.count(";") + 1:
        return None  # a key twice
    if any(key not in fields for key in _REQUIRED):
        return None
    if any("." in fields[key] for key in _INTEGER if key in fields):
        return None
    counts = [int(fields[key]) for key in ("rxcount", "txcount", "lp")]
    jitter = float(fields["txjitter"])
    rtt, mes = float(fields.get("rtt", "0")), float(fields.get("txmes", "0"))
    if max(counts) > _MAX_COUNT or jitter > _MAX_SECONDS or rtt > _MAX_SECONDS or mes > 100.0:
        return None
    if counts[2] > _MAX_LOST:
        return None  # `lp` is a difference printed unsigned: a wrapped negative, not a loss
    return RtpStats(
        received=counts[0],
        sent=counts[1],
        lost=counts[2],
        jitter=jitter,
        rtt=rtt if rtt > 0 else None,
        mes=mes if mes > 0 else None,
    )


@dataclass(frozen=True, slots=True)
class Leg:
    endpoint: str | None  # PJSIP endpoint (configuration), for /status only
    caller: bool  # the call's first channel (Uniqueid == Linkedid)
    stats: RtpStats


@dataclass(frozen=True, slots=True)
class OneWayCall:
    """A call in which a party's audio never (or hardly) reached Asterisk, for /status."""

    at: float  # Unix time the call ended
    direction: str
    trunk: str
    silent: str  # "caller", "callee" or "both"
    endpoints: tuple[str, ...]  # the silent legs' endpoints (configured names)
    talk_seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "direction": self.direction,
            "trunk": self.trunk,
            "silent": self.silent,
            "silent_endpoints": list(self.endpoints),
            "talk_seconds": round(self.talk_seconds, 1),
        }


Key = tuple[str, str]  # (direction, trunk)


class CallQuality:
    """Fed by `varset(event)` (RTPAUDIOQOS VarSet events) and `call_ended(call)` (from
    AsteriskState); read by the metrics collector and /status."""

    def __init__(self, *, trunks: Callable[[], Iterable[str]] = tuple) -> None:
        #: The configured trunk names (the label values that exist even before any call).
        self.trunks = trunks
        self._legs: OrderedDict[str, dict[str, Leg]] = OrderedDict()  # Linkedid -> Uniqueid -> leg
        self.loss: dict[Key, Histogram] = {}
        self.jitter: dict[Key, Histogram] = {}
        self.rtt: dict[Key, Histogram] = {}
        self.mes: dict[Key, Histogram] = {}
        self.one_way: dict[Key, int] = {}
        self.rejected = 0  # RTPAUDIOQOS values that did not parse
        self.recent: deque[OneWayCall] = deque(maxlen=RECENT_ONE_WAY)

    # ---- input ---------------------------------------------------------------------------------

    def varset(self, msg: Event) -> None:
        """A VarSet event; only RTPAUDIOQOS of an answered PJSIP channel is kept."""
        if msg.get("Variable") != VARIABLE:
            return
        stats = parse_rtpqos(msg.get("Value", ""))
        if stats is None:
            self.rejected += 1
            return
        uid = msg.get("Uniqueid", "")
        linkedid = msg.get("Linkedid") or uid
        if not uid or msg.get("ChannelState") != _UP:
            return  # a leg that never answered (a ring group's loser) carried no call audio
        legs = self._legs.get(linkedid)
        if legs is None:
            legs = self._legs[linkedid] = {}
            if len(self._legs) > _PENDING_CALLS:
                self._legs.popitem(last=False)
        if uid in legs or len(legs) < _LEGS_PER_CALL:
            legs[uid] = Leg(pjsip_endpoint(msg.get("Channel", "")), uid == linkedid, stats)

    def call_ended(self, call: EndedCall) -> None:
        """The call's last channel is gone: its legs' statistics become one observation."""
        legs = list(self._legs.pop(call.linkedid, {}).values())
        if not legs or call.answered_at is None or call.partial:
            return
        key = (call.direction, call.trunk)
        ratios = [r for r in (leg.stats.loss_ratio for leg in legs) if r is not None]
        if ratios:
            _observe(self.loss, key, LOSS_BUCKETS, max(ratios))
            jitters = [leg.stats.jitter for leg in legs if leg.stats.loss_ratio is not None]
            _observe(self.jitter, key, JITTER_BUCKETS, max(jitters))
        rtts = [leg.stats.rtt for leg in legs if leg.stats.rtt is not None]
        if rtts:
            _observe(self.rtt, key, RTT_BUCKETS, max(rtts))
        scores = [leg.stats.mes for leg in legs if leg.stats.mes is not None]
        if scores:
            _observe(self.mes, key, MES_BUCKETS, min(scores))
        if not call.end_seen:
            return  # ended while we were away: the talk time is unknown
        talk = call.ended_at - call.answered_at
        if talk < ONE_WAY_MIN_TALK:
            return
        silent = [leg for leg in legs if leg.stats.received < SILENT_PACKETS_PER_SECOND * talk]
        if not silent:
            return
        sides = {"caller" if leg.caller else "callee" for leg in silent}
        if len(legs) > 1 and len(silent) == len(legs):
            sides = {"both"}
        self.one_way[key] = self.one_way.get(key, 0) + 1
        self.recent.append(
            OneWayCall(
                at=call.ended_at,
                direction=call.direction,
                trunk=call.trunk,
                silent=sides.pop() if len(sides) == 1 else "both",
                endpoints=tuple(sorted({leg.endpoint for leg in silent if leg.endpoint})),
                talk_seconds=talk,
            )
        )

    # ---- output --------------------------------------------------------------------------------

    def keys(self) -> list[Key]:
        """Every (direction, trunk) the configuration allows, so that series exist (at zero)
        before the first call: internal calls have no trunk."""
        keys = [("internal", "")]
        for trunk in sorted(set(self.trunks())):
            keys += [(direction, trunk) for direction in DIRECTIONS if direction != "internal"]
        return keys

    def histogram(self, kind: str, key: Key) -> Histogram:
        """The (possibly empty) histogram of one kind (loss, jitter, rtt, mes) for a key."""
        table = {"loss": self.loss, "jitter": self.jitter, "rtt": self.rtt, "mes": self.mes}[kind]
        found = table.get(key)
        return found if found is not None else Histogram(_BUCKETS[kind])

    def status(self) -> dict[str, object]:
        """For /status (`board.add_section("call_quality", quality.status)`): the one-way total
        and the last few one-way calls, newest first (bounded by RECENT_ONE_WAY)."""
        return {
            "one_way_calls_total": sum(self.one_way.values()),
            "recent_one_way_calls": [call.as_dict() for call in reversed(self.recent)],
        }

    @property
    def pending_calls(self) -> int:
        return len(self._legs)


_BUCKETS: Final = {
    "loss": LOSS_BUCKETS,
    "jitter": JITTER_BUCKETS,
    "rtt": RTT_BUCKETS,
    "mes": MES_BUCKETS,
}


def _observe(
    table: dict[Key, Histogram], key: Key, bounds: tuple[float, ...], value: float
) -> None:
    hist = table.get(key)
    if hist is None:
        hist = table[key] = Histogram(bounds)
    hist.observe(value)
