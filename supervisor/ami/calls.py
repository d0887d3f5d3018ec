"""Calls as seen through AMI: channels grouped into calls by Linkedid, their direction, trunk,
outcome and times, and the bridges. Fed by `AsteriskState` (events and re-sync lists in stream
order); metrics read it at scrape time, call observers (call quality) learn each ended call.

Re-sync without loss or double counting:
- Every operation is idempotent per key: a channel is keyed by Uniqueid, a call by Linkedid, a
  bridge by its id.
- A snapshot taken after a reconnect replaces what it covers. Channels we knew that are missing
  from it hung up while we were away: their calls end then, counted once with the outcome `lost`
  (how they ended is unknown) and without duration. Channels in it that we did not know started
  while we were away: their calls are tracked from now on, and flagged `partial` so that their
  histograms are not fed with made-up times.
- The same snapshots are taken on a timer while connected (the client's reconcile), so a missed
  event can never leave a phantom call open for good. Asterisk publishes channel events
  asynchronously (stasis), so a Hangup or Newchannel may still be in flight when a list is built:
  on a timer, a discrepancy is acted on only when the next snapshot confirms it (a phantom lives
  at most two reconcile periods; a call in flight is never miscounted).
- Times come from the events' own `Timestamp` header (manager.conf `timestampevents = yes`),
  not from their arrival: a backlog (after a stall, under load) does not stretch durations.
- A call is counted when its last channel goes away and its Linkedid is remembered (bounded), so a
  late or replayed event for it never counts it again; a Uniqueid that hung up is remembered too,
  so a snapshot racing with its Hangup does not bring it back.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from supervisor.ami.fields import Event, Histogram, hms, integer
from supervisor.ami.outcome import outcome, telling
from supervisor.site.sections import trunk_endpoint

#: `lost`: the call ended while its events could not be seen (AMI down, Asterisk frozen or
#: restarted); Asterisk no longer had it at the next re-sync.
OUTCOMES: Final = ("answered", "busy", "no_answer", "cancelled", "failed", "lost")
DIRECTIONS: Final = ("inbound", "outbound", "internal")


#: Histogram bounds (seconds). Talk time spans a doorbell's few seconds to hour-long calls.
DURATION_BUCKETS: Final = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0, 1800.0, 3600.0)
ANSWER_DELAY_BUCKETS: Final = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)

_UP = "6"  # ChannelState of an answered channel
_REMEMBERED = 10_000  # ended calls and channels remembered against late or replayed events


@dataclass(slots=True)
class Channel:
    linkedid: str
    endpoint: str | None


@dataclass(slots=True)
class Call:
    start: float
    channels: set[str] = field(default_factory=set)
    origin: str | None = None  # endpoint of the calling channel (Uniqueid == Linkedid)
    trunk_endpoint: str | None = None  # first trunk endpoint among the other channels
    answered_at: float | None = None
    dial: str | None = None  # most telling DialStatus
    cause: str | None = None  # Q.850 cause of the calling channel
    partial: bool = False  # started or answered while we were not watching: no histograms
    counted: bool = False  # already counted (a straggler of an ended call): never count again
    lost: bool = False  # its end was not seen: Asterisk no longer had it at a re-sync


@dataclass(frozen=True, slots=True)
class EndedCall:
    """What call observers (supervisor.ami.quality) learn when a call's last channel is gone."""

    linkedid: str
    direction: str
    trunk: str
    answered_at: float | None
    ended_at: float
    end_seen: bool  # False: it ended while we were not watching (ended_at is the re-sync time)
    partial: bool  # started or answered while we were not watching


CallObserver = Callable[[EndedCall], None]


def pjsip_endpoint(channel: str) -> str | None:
    """`PJSIP/<endpoint>-<8 hex>` -> endpoint; other technologies (Local, ...) -> None."""
    if not channel.startswith("PJSIP/"):
        return None
    dash = channel.rfind("-")
    return channel[6:dash] if dash > 6 else None


class _Recent:
    """A bounded set of recently seen keys (insertion order, oldest dropped)."""

    __slots__ = ("_keys", "_limit")

    def __init__(self, limit: int) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, key: str) -> None:
        self._keys[key] = None
        if len(self._keys) > self._limit:
            self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._keys


class SiteTrunks(Protocol):
    @property
    def trunks(self) -> Mapping[str, object]: ...


class AppliedSite(Protocol):
    """The calls' view of an applied config (`supervisor.reload.Config` satisfies it)."""

    @property
    def site(self) -> SiteTrunks: ...


class Calls:
    """Channels, calls and bridges (see the module docstring).

    `trunks` maps a trunk's PJSIP endpoint name to the trunk's configured name (from the site
    model): it decides call direction and the `trunk` label. Labels only ever come from it, from
    endpoint names in Asterisk's config, and from fixed vocabularies.
    """

    def __init__(
        self,
        *,
        trunks: Mapping[str, str] | None = None,
        observers: Iterable[CallObserver] = (),
    ) -> None:
        self.trunks: dict[str, str] = dict(trunks or {})
        #: Told about every ended call once, after it is counted (e.g. call quality).
        self.observers: list[CallObserver] = list(observers)
        self.channels: dict[str, Channel] = {}
        self.active: dict[str, Call] = {}  # by Linkedid
        self.bridges: set[str] = set()
        self.total: dict[tuple[str, str, str], int] = {}  # (direction, trunk, outcome)
        self.hangup_causes: dict[str, int] = {}
        self.duration = Histogram(DURATION_BUCKETS)
        self.answer_delay = Histogram(ANSWER_DELAY_BUCKETS)
        self.lost = 0  # calls whose end was not seen
        self._gone_channels = _Recent(_REMEMBERED)
        self._ended_calls = _Recent(_REMEMBERED)
        # Discrepancies seen by the last snapshot on a timer, acted on when the next confirms.
        self._missing: set[str] = set()
        self._unlisted: set[str] = set()
        #: Logged in and re-synced (AsteriskState.live): a channel list is then checked against
        #: events that may be in flight instead of taken as the truth at once.
        self.synced = False

    def trunk_names(self) -> Iterable[str]:
        """The live site's trunk names (the labels of per-trunk series)."""
        return self.trunks.values()

    def busy(self) -> bool:
        """A call or a channel is active: restarting Asterisk now would cut it."""
        return bool(self.active or self.channels)

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: its trunks label the calls that start from now on."""
        self.set_trunks({trunk_endpoint(name): name for name in config.site.trunks})

    def set_trunks(self, trunks: Mapping[str, str]) -> None:
        """New trunk endpoint -> trunk name map (after a site change); calls in progress keep
        the direction they were given when their channels appeared."""
        self.trunks = dict(trunks)

    def disconnected(self) -> None:
        """The AMI session ended: the next login's list is authoritative, nothing of this
        session is in flight."""
        self.synced = False
        self._missing.clear()
        self._unlisted.clear()

    # ---- channels and calls ----

    def _add_channel(self, uid: str, linkedid: str, name: str, now: float) -> Call:
        endpoint = pjsip_endpoint(name)
        self.channels[uid] = Channel(linkedid, endpoint)
        call = self.active.get(linkedid)
        if call is None:
            call = self.active[linkedid] = Call(start=now)
            # A new channel of a call that already ended and was counted (a straggler).
            call.counted = linkedid in self._ended_calls
        call.channels.add(uid)
        if uid == linkedid:
            call.origin = endpoint
        elif endpoint is not None and call.trunk_endpoint is None and endpoint in self.trunks:
            call.trunk_endpoint = endpoint
        return call

    def newchannel(self, msg: Event, now: float) -> None:
        uid = msg.get("Uniqueid", "")
        if not uid or uid in self.channels or uid in self._gone_channels:
            return
        linkedid = msg.get("Linkedid") or uid
        call = self._add_channel(uid, linkedid, msg.get("Channel", ""), now)
        if uid == linkedid and msg.get("ChannelState") == _UP and call.answered_at is None:
            call.answered_at = now

    def newstate(self, msg: Event, now: float) -> None:
        if msg.get("ChannelState") != _UP:
            return
        uid = msg.get("Uniqueid", "")
        channel = self.channels.get(uid)
        if channel is None or uid != channel.linkedid:
            return
        call = self.active[channel.linkedid]
        if call.answered_at is None:
            call.answered_at = now

    def dialend(self, msg: Event, now: float) -> None:
        call = self.active.get(msg.get("Linkedid") or msg.get("DestLinkedid", ""))
        if call is None:
            return
        call.dial = telling(msg.get("DialStatus", ""), call.dial)

    def hangup(self, msg: Event, now: float) -> None:
        uid = msg.get("Uniqueid", "")
        channel = self.channels.pop(uid, None)
        if channel is None:
            return
        self._gone_channels.add(uid)
        call = self.active[channel.linkedid]
        call.channels.discard(uid)
        if uid == channel.linkedid:
            call.cause = msg.get("Cause")
        if not call.channels:
            self._end_call(channel.linkedid, call, now, end_seen=True)

    def _end_call(self, linkedid: str, call: Call, now: float, *, end_seen: bool) -> None:
        del self.active[linkedid]
        if call.counted:
            return
        call.counted = True
        call.lost = not end_seen
        if call.lost:
            self.lost += 1
        self._ended_calls.add(linkedid)
        direction, trunk = self._direction(call)
        outcome = self._outcome(call)
        key = (direction, trunk, outcome)
        self.total[key] = self.total.get(key, 0) + 1
        cause = _cause_label(call.cause)
        self.hangup_causes[cause] = self.hangup_causes.get(cause, 0) + 1
        if call.answered_at is not None and not call.partial:
            self.answer_delay.observe(call.answered_at - call.start)
            if end_seen:
                self.duration.observe(now - call.answered_at)
        if self.observers:
            ended = EndedCall(
                linkedid, direction, trunk, call.answered_at, now, end_seen, call.partial
            )
            for observer in self.observers:
                observer(ended)

    def _direction(self, call: Call) -> tuple[str, str]:
        if call.origin is not None and call.origin in self.trunks:
            return "inbound", self.trunks[call.origin]
        if call.trunk_endpoint is not None:
            return "outbound", self.trunks[call.trunk_endpoint]
        return "internal", ""

    @staticmethod
    def _outcome(call: Call) -> str:
        cause = int(call.cause) if call.cause and call.cause.isdigit() else None
        return outcome(
            lost=call.lost, answered=call.answered_at is not None, dial=call.dial, cause=cause
        )

    def snap_channels(self, items: Iterable[Event], now: float) -> None:
        # After a login (not yet synced) the list is the truth at once: nothing of this session
        # can be in flight. On a timer, a channel event may be (see the module docstring).
        confirm = self.synced
        seen: set[str] = set()
        unlisted: set[str] = set()
        for item in items:
            if item.get("Event") != "CoreShowChannel":
                continue
            uid = item.get("Uniqueid", "")
            if not uid or uid in self._gone_channels:
                continue
            seen.add(uid)
            linkedid = item.get("Linkedid") or uid
            up = item.get("ChannelState") == _UP
            channel = self.channels.get(uid)
            if channel is None:
                if confirm and uid not in self._unlisted:
                    unlisted.add(uid)  # its Newchannel may be on the way
                    continue
                # Started while we were not watching: track it, but its times are unknown.
                started = now - (hms(item.get("Duration")) or 0.0)
                call = self._add_channel(uid, linkedid, item.get("Channel", ""), started)
                if call.start > started:
                    call.start = started
                call.partial = True
            else:
                call = self.active[channel.linkedid]
            if up and uid == linkedid and call.answered_at is None:
                if confirm and uid not in self._unlisted:
                    unlisted.add(uid)  # its Newstate may be on the way
                    continue
                call.answered_at = now
                call.partial = True  # answered while we were away: answer time unknown
        missing = {u for u in self.channels if u not in seen}
        if confirm:
            gone, self._missing = missing & self._missing, missing - self._missing
        else:
            gone, self._missing = missing, set()
        self._unlisted = unlisted
        for uid in gone:
            # Hung up while we were away (or its Hangup was lost): the call ends without a known
            # end time or cause.
            channel = self.channels.pop(uid)
            self._gone_channels.add(uid)
            call = self.active[channel.linkedid]
            call.channels.discard(uid)
            if not call.channels:
                self._end_call(channel.linkedid, call, now, end_seen=False)

    @property
    def count(self) -> int:
        return len(self.active)

    # ---- bridges -------------------------------------------------------------------------------

    def bridge_create(self, msg: Event, now: float) -> None:
        bridge = msg.get("BridgeUniqueid")
        if bridge:
            self.bridges.add(bridge)

    def bridge_destroy(self, msg: Event, now: float) -> None:
        self.bridges.discard(msg.get("BridgeUniqueid", ""))

    def snap_bridges(self, items: Iterable[Event], now: float) -> None:
        self.bridges = {
            item["BridgeUniqueid"]
            for item in items
            if item.get("Event") == "BridgeListItem" and item.get("BridgeUniqueid")
        }


def _cause_label(cause: str | None) -> str:
    """A Q.850 cause code (0-127) or "unknown": never free text, so the label stays bounded."""
    value = integer(cause)
    return str(value) if value is not None and 0 <= value <= 127 else "unknown"
