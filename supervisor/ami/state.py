"""Asterisk's state as seen through AMI: trunks, contacts, channels, calls, bridges, core.

A pure state machine: `event(msg, now)` for each AMI event and `snapshot(kind, items, now)` for
each re-sync list, applied in the order they appear on the AMI stream (the client guarantees that).
Metrics read it at scrape time (supervisor/metrics), so the event path only updates dicts and
integers.

Re-sync without loss or double counting:
- Every operation is idempotent per key: a channel is keyed by Uniqueid, a call by Linkedid, a
  contact by (AOR, URI), a registration by its name, a bridge by its id.
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

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from supervisor.ami.protocol import PROTOCOL_ERRORS

Event = Mapping[str, str]

#: asterisk_pjsip_outbound_registration_status values (res_prometheus: 0/1/2).
UNREGISTERED, REGISTERED, REJECTED = 0, 1, 2
_REGISTRATION_STATUS: Final = {
    "Registered": REGISTERED,
    "Unregistered": UNREGISTERED,
    "Rejected": REJECTED,
    # PJSIP never sends Failed (ami-facts), other channel drivers do: same meaning as Rejected.
    "Failed": REJECTED,
}

#: Contact states, normalised: Asterisk's code emits long and short labels (ContactStatus events
#: vs PJSIPShowContacts) and its docs name others; anything else is "unknown".
_CONTACT_STATUS: Final = {
    "Reachable": "reachable",
    "Avail": "reachable",
    "Unreachable": "unreachable",
    "Unavail": "unreachable",
    "Unavailable": "unreachable",
}

#: `lost`: the call ended while its events could not be seen (AMI down, Asterisk frozen or
#: restarted); Asterisk no longer had it at the next re-sync.
OUTCOMES: Final = ("answered", "busy", "no_answer", "cancelled", "failed", "lost")
DIRECTIONS: Final = ("inbound", "outbound", "internal")

# Dial results by how much they say about the call: one ANSWER among parallel legs decides;
# a BUSY leg says more than a leg that rang out; CANCEL means the caller gave up.
_DIAL_RANK: Final = {
    "ANSWER": 6,
    "BUSY": 5,
    "NOANSWER": 4,
    "CANCEL": 3,
    "CONGESTION": 2,
    "CHANUNAVAIL": 1,
}
_DIAL_OUTCOME: Final = {
    "ANSWER": "answered",
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CANCEL": "cancelled",
    "CONGESTION": "failed",
    "CHANUNAVAIL": "failed",
}
# Q.850 causes of the calling channel when no Dial said anything.
_CAUSE_OUTCOME: Final = {
    "17": "busy",  # user busy
    "18": "no_answer",  # no user responding
    "19": "no_answer",  # no answer from user
    "16": "cancelled",  # normal clearing before answer: the caller hung up
    "0": "cancelled",
}

#: Histogram bounds (seconds). Talk time spans a doorbell's few seconds to hour-long calls.
DURATION_BUCKETS: Final = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0, 1800.0, 3600.0)
ANSWER_DELAY_BUCKETS: Final = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)

_UP = "6"  # ChannelState of an answered channel
_REMEMBERED = 10_000  # ended calls and channels remembered against late or replayed events


class Histogram:
    """Bucket counts kept as plain integers; the collector makes them cumulative at scrape time."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        value = max(value, 0.0)
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le semantics).
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value


@dataclass(slots=True)
class Registration:
    name: str
    client_uri: str
    server_uri: str
    status: int = UNREGISTERED
    changes: int = 0
    last_success: float | None = None


@dataclass(slots=True)
class Contact:
    endpoint: str
    status: str
    rtt: float | None


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
    """The state's view of an applied config (`supervisor.reload.Config` satisfies it)."""

    @property
    def site(self) -> SiteTrunks: ...


class AsteriskState:
    """Everything the metrics need, fed by AMI events and re-sync snapshots.

    `trunks` maps a trunk's PJSIP endpoint name to the trunk's configured name (from the site
    model): it decides call direction and the `trunk` label. Labels only ever come from it, from
    registration and endpoint names in Asterisk's config, and from fixed vocabularies.
    """

    def __init__(
        self,
        *,
        trunks: Mapping[str, str] | None = None,
        call_observers: Iterable[CallObserver] = (),
    ) -> None:
        self.trunks: dict[str, str] = dict(trunks or {})
        #: Told about every ended call once, after it is counted (e.g. call quality).
        self.call_observers: list[CallObserver] = list(call_observers)
        # AMI connection
        self.ami_connected = False
        self.synced = False
        self.ami_reconnects = 0
        #: Connections this side closed over a protocol error, by reason (PROTOCOL_ERRORS).
        self.ami_protocol_errors: dict[str, int] = dict.fromkeys(PROTOCOL_ERRORS, 0)
        self.events_total = 0
        self.last_event_time: float | None = None
        # core (whether Asterisk is FullyBooted is the AMI client's, one place: AmiClient.booted)
        self.version: str | None = None
        self.started_at: float | None = None
        self.reloaded_at: float | None = None
        self.core_current_calls: int | None = None
        self.core_processed_calls: int | None = None
        # trunks, endpoints, contacts
        self.registrations: dict[str, Registration] = {}
        self._registration_by_uri: dict[str, str] = {}
        self.endpoints: set[str] = set()
        self.contacts: dict[tuple[str, str], Contact] = {}
        self._by_endpoint: dict[str, set[tuple[str, str]]] = {}
        self._listed_contacts: dict[tuple[str, str], str] = {}
        self._health: dict[str, tuple[int, float | None]] = {}
        # calls
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}
        self.bridges: set[str] = set()
        self.calls_total: dict[tuple[str, str, str], int] = {}
        self.hangup_causes: dict[str, int] = {}
        self.duration = Histogram(DURATION_BUCKETS)
        self.answer_delay = Histogram(ANSWER_DELAY_BUCKETS)
        self._gone_channels = _Recent(_REMEMBERED)
        self._ended_calls = _Recent(_REMEMBERED)
        # Discrepancies seen by the last snapshot on a timer, acted on when the next confirms.
        self._missing: set[str] = set()
        self._unlisted: set[str] = set()
        self.calls_lost = 0
        self._routes: dict[str, Callable[[Event, float], None]] = {
            "Newchannel": self._newchannel,
            "Newstate": self._newstate,
            "Hangup": self._hangup,
            "DialEnd": self._dialend,
            "BridgeCreate": self._bridge_create,
            "BridgeDestroy": self._bridge_destroy,
            "Registry": self._registry,
            "ContactStatus": self._contact_status,
            "FullyBooted": self._fully_booted,
            "Reload": self._reload,
        }
        self._snapshots: dict[str, Callable[[Iterable[Event], float], None]] = {
            "PJSIPShowRegistrationsOutbound": self._snap_registrations,
            "PJSIPShowEndpoints": self._snap_endpoints,
            "PJSIPShowContacts": self._snap_contacts,
            "PJSIPShowEndpoint": self._snap_contacts,
            "CoreShowChannels": self._snap_channels,
            "BridgeList": self._snap_bridges,
        }

    # ---- entry points --------------------------------------------------------------------------

    def protocol_error(self, reason: str) -> None:
        """Count a connection closed over an AMI protocol error (a bounded reason)."""
        if reason in self.ami_protocol_errors:
            self.ami_protocol_errors[reason] += 1

    def event(self, msg: Event, now: float) -> None:
        """Apply one AMI event (any name; unknown ones only count). `now` is its arrival; the
        state's clock for it is Asterisk's `Timestamp` when present."""
        self.events_total += 1
        self.last_event_time = now
        handler = self._routes.get(msg.get("Event", ""))
        if handler is not None:
            handler(msg, event_time(msg, now))

    def snapshot(self, action: str, items: Iterable[Event], now: float) -> None:
        """Replace what a re-sync list action covers with its list items."""
        handler = self._snapshots.get(action)
        if handler is not None:
            handler(items, now)

    def core_status(self, response: Event) -> None:
        self.core_current_calls = _int(response.get("CoreCurrentCalls"))
        self.core_processed_calls = _int(response.get("CoreProcessedCalls"))

    def core_settings(self, response: Event) -> None:
        self.version = response.get("AsteriskVersion") or self.version

    def set_connected(self, connected: bool, now: float) -> None:
        self.ami_connected = connected
        if not connected:
            self.synced = False
            # The next login's snapshot is authoritative: nothing of this session is in flight.
            self._missing.clear()
            self._unlisted.clear()

    def set_synced(self) -> None:
        """The full re-sync after a login is applied: the state describes Asterisk now."""
        self.synced = True

    @property
    def live(self) -> bool:
        """Logged in and re-synced: gauges of Asterisk's current state are meaningful."""
        return self.ami_connected and self.synced

    def trunk_names(self) -> Iterable[str]:
        """The live site's trunk names (the labels of per-trunk series)."""
        return self.trunks.values()

    def busy(self) -> bool:
        """A call or a channel is active: restarting Asterisk now would cut it."""
        return bool(self.calls or self.channels)

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: its trunks label the calls that start from now on."""
        self.set_trunks({name: name for name in config.site.trunks})

    def set_trunks(self, trunks: Mapping[str, str]) -> None:
        """New trunk endpoint -> trunk name map (after a site change); calls in progress keep
        the direction they were given when their channels appeared."""
        self.trunks = dict(trunks)

    # ---- core ----------------------------------------------------------------------------------

    def _fully_booted(self, msg: Event, now: float) -> None:
        uptime, last_reload = _int(msg.get("Uptime")), _int(msg.get("LastReload"))
        if uptime is not None:
            self.started_at = now - uptime
        if last_reload is not None:
            self.reloaded_at = now - last_reload

    def _reload(self, msg: Event, now: float) -> None:
        self.reloaded_at = now

    # ---- trunks --------------------------------------------------------------------------------

    def _registry(self, msg: Event, now: float) -> None:
        name = self._registration_by_uri.get(msg.get("Username", ""))
        if name is None:
            return  # not (yet) in a snapshot: the next re-sync brings it
        reg = self.registrations[name]
        status = _REGISTRATION_STATUS.get(msg.get("Status", ""), UNREGISTERED)
        if status != reg.status:
            reg.changes += 1
            reg.status = status
        if status == REGISTERED:
            # Sent on every successful REGISTER, refreshes included.
            reg.last_success = now

    def _snap_registrations(self, items: Iterable[Event], now: float) -> None:
        seen: dict[str, Registration] = {}
        for item in items:
            if item.get("Event") != "OutboundRegistrationDetail":
                continue
            name = item.get("ObjectName", "")
            if not name:
                continue
            status = _REGISTRATION_STATUS.get(item.get("Status", ""), UNREGISTERED)
            reg = self.registrations.get(name)
            if reg is None:
                reg = Registration(name, item.get("ClientUri", ""), item.get("ServerUri", ""))
                reg.status = status
                if status == REGISTERED:
                    reg.last_success = now  # registered already: the best we know
            else:
                reg.client_uri = item.get("ClientUri", reg.client_uri)
                reg.server_uri = item.get("ServerUri", reg.server_uri)
                if status != reg.status:
                    reg.changes += 1
                    reg.status = status
                    if status == REGISTERED:
                        reg.last_success = now
            seen[name] = reg
        self.registrations = seen
        self._registration_by_uri = {r.client_uri: r.name for r in seen.values()}

    # ---- endpoints and contacts ----------------------------------------------------------------

    def _snap_endpoints(self, items: Iterable[Event], now: float) -> None:
        endpoints: set[str] = set()
        existing: dict[tuple[str, str], str] = {}  # contact -> endpoint
        for item in items:
            name = item.get("ObjectName")
            if item.get("Event") != "EndpointList" or not name:
                continue
            endpoints.add(name)
            # "Contacts: aor/uri,aor/uri," lists static and registered contacts alike.
            for entry in item.get("Contacts", "").split(","):
                aor, sep, uri = entry.partition("/")
                if sep:
                    existing[(aor, uri)] = name
        self.endpoints = endpoints
        # Contacts gone while we were away disappear; the statuses of the others are kept (an
        # unchanged status sends no event, and PJSIPShowContacts lists registered contacts only).
        self.contacts = {k: c for k, c in self.contacts.items() if k in existing}
        self._listed_contacts = existing
        self._rebuild_health()

    def _contact_status(self, msg: Event, now: float) -> None:
        key = (msg.get("AOR", ""), msg.get("URI", ""))
        status = msg.get("ContactStatus", "")
        if status == "Removed":
            self._set_contact(key, None)
            return
        endpoint = msg.get("EndpointName") or key[0]
        contact = Contact(
            endpoint, _CONTACT_STATUS.get(status, "unknown"), _rtt(msg.get("RoundtripUsec"))
        )
        self._set_contact(key, contact)

    def _set_contact(self, key: tuple[str, str], contact: Contact | None) -> None:
        old = self.contacts.pop(key, None)
        if old is not None:
            self._by_endpoint.get(old.endpoint, set()).discard(key)
            self._refresh_health(old.endpoint)
        if contact is not None:
            self.contacts[key] = contact
            self._by_endpoint.setdefault(contact.endpoint, set()).add(key)
            self._refresh_health(contact.endpoint)

    def _snap_contacts(self, items: Iterable[Event], now: float) -> None:
        """PJSIPShowContacts (registered contacts: `Aor`, `Uri`, `Status`) or PJSIPShowEndpoint
        (`ContactStatusDetail`: `AOR`, `URI`, `Status`): statuses merged per contact."""
        for item in items:
            name = item.get("Event")
            if name == "ContactList":
                key = (item.get("Aor", ""), item.get("Uri", ""))
                endpoint = item.get("Endpoint") or key[0]
            elif name == "ContactStatusDetail":
                key = (item.get("AOR", ""), item.get("URI", ""))
                endpoint = item.get("EndpointName") or key[0]
            else:
                continue
            status = _CONTACT_STATUS.get(item.get("Status", ""), "unknown")
            self._set_contact(key, Contact(endpoint, status, _rtt(item.get("RoundtripUsec"))))

    def endpoints_without_status(self) -> list[str]:
        """Endpoints with a listed contact whose status we do not know (a static contact whose
        qualify result has not changed since we connected): PJSIPShowEndpoint tells."""
        return sorted({ep for key, ep in self._listed_contacts.items() if key not in self.contacts})

    # Per-endpoint health is kept up to date on each contact change (qualify results are few per
    # second even at 10,000 phones) so that a scrape only reads it.

    def _rebuild_health(self) -> None:
        self._by_endpoint = {}
        for key, contact in self.contacts.items():
            self._by_endpoint.setdefault(contact.endpoint, set()).add(key)
        self._health = {}
        for endpoint in self._by_endpoint:
            self._refresh_health(endpoint)

    def _refresh_health(self, endpoint: str) -> None:
        reachable, rtt, known = 0, None, False
        if endpoint in self.endpoints:
            for key in self._by_endpoint.get(endpoint, ()):
                contact = self.contacts[key]
                if contact.status == "unknown":
                    continue
                known = True
                if contact.status == "reachable":
                    reachable = 1
                    if contact.rtt is not None and (rtt is None or contact.rtt < rtt):
                        rtt = contact.rtt
        if known:
            self._health[endpoint] = (reachable, rtt)
        else:
            self._health.pop(endpoint, None)

    def endpoint_health(self) -> Mapping[str, tuple[int, float | None]]:
        """Per configured endpoint with a qualified contact: (reachable 0/1, best RTT seconds).
        Endpoints without contacts, or only unqualified ones, have no known reachability."""
        return self._health

    # ---- channels and calls --------------------------------------------------------------------

    def _add_channel(self, uid: str, linkedid: str, name: str, now: float) -> Call:
        endpoint = pjsip_endpoint(name)
        self.channels[uid] = Channel(linkedid, endpoint)
        call = self.calls.get(linkedid)
        if call is None:
            call = self.calls[linkedid] = Call(start=now)
            # A new channel of a call that already ended and was counted (a straggler).
            call.counted = linkedid in self._ended_calls
        call.channels.add(uid)
        if uid == linkedid:
            call.origin = endpoint
        elif endpoint is not None and call.trunk_endpoint is None and endpoint in self.trunks:
            call.trunk_endpoint = endpoint
        return call

    def _newchannel(self, msg: Event, now: float) -> None:
        uid = msg.get("Uniqueid", "")
        if not uid or uid in self.channels or uid in self._gone_channels:
            return
        linkedid = msg.get("Linkedid") or uid
        call = self._add_channel(uid, linkedid, msg.get("Channel", ""), now)
        if uid == linkedid and msg.get("ChannelState") == _UP and call.answered_at is None:
            call.answered_at = now

    def _newstate(self, msg: Event, now: float) -> None:
        if msg.get("ChannelState") != _UP:
            return
        uid = msg.get("Uniqueid", "")
        channel = self.channels.get(uid)
        if channel is None or uid != channel.linkedid:
            return
        call = self.calls[channel.linkedid]
        if call.answered_at is None:
            call.answered_at = now

    def _dialend(self, msg: Event, now: float) -> None:
        call = self.calls.get(msg.get("Linkedid") or msg.get("DestLinkedid", ""))
        if call is None:
            return
        status = msg.get("DialStatus", "")
        if _DIAL_RANK.get(status, 0) > _DIAL_RANK.get(call.dial or "", 0):
            call.dial = status

    def _hangup(self, msg: Event, now: float) -> None:
        uid = msg.get("Uniqueid", "")
        channel = self.channels.pop(uid, None)
        if channel is None:
            return
        self._gone_channels.add(uid)
        call = self.calls[channel.linkedid]
        call.channels.discard(uid)
        if uid == channel.linkedid:
            call.cause = msg.get("Cause")
        if not call.channels:
            self._end_call(channel.linkedid, call, now, end_seen=True)

    def _end_call(self, linkedid: str, call: Call, now: float, *, end_seen: bool) -> None:
        del self.calls[linkedid]
        if call.counted:
            return
        call.counted = True
        call.lost = not end_seen
        if call.lost:
            self.calls_lost += 1
        self._ended_calls.add(linkedid)
        direction, trunk = self._direction(call)
        outcome = self._outcome(call)
        key = (direction, trunk, outcome)
        self.calls_total[key] = self.calls_total.get(key, 0) + 1
        cause = _cause_label(call.cause)
        self.hangup_causes[cause] = self.hangup_causes.get(cause, 0) + 1
        if call.answered_at is not None and not call.partial:
            self.answer_delay.observe(call.answered_at - call.start)
            if end_seen:
                self.duration.observe(now - call.answered_at)
        if self.call_observers:
            ended = EndedCall(
                linkedid, direction, trunk, call.answered_at, now, end_seen, call.partial
            )
            for observer in self.call_observers:
                observer(ended)

    def _direction(self, call: Call) -> tuple[str, str]:
        if call.origin is not None and call.origin in self.trunks:
            return "inbound", self.trunks[call.origin]
        if call.trunk_endpoint is not None:
            return "outbound", self.trunks[call.trunk_endpoint]
        return "internal", ""

    @staticmethod
    def _outcome(call: Call) -> str:
        if call.lost:
            return "lost"
        if call.answered_at is not None:
            return "answered"
        if call.dial is not None:
            return _DIAL_OUTCOME[call.dial]
        return _CAUSE_OUTCOME.get(call.cause or "", "failed")

    def _snap_channels(self, items: Iterable[Event], now: float) -> None:
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
                started = now - (_hms(item.get("Duration")) or 0.0)
                call = self._add_channel(uid, linkedid, item.get("Channel", ""), started)
                if call.start > started:
                    call.start = started
                call.partial = True
            else:
                call = self.calls[channel.linkedid]
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
            call = self.calls[channel.linkedid]
            call.channels.discard(uid)
            if not call.channels:
                self._end_call(channel.linkedid, call, now, end_seen=False)

    @property
    def calls_active(self) -> int:
        return len(self.calls)

    # ---- bridges -------------------------------------------------------------------------------

    def _bridge_create(self, msg: Event, now: float) -> None:
        bridge = msg.get("BridgeUniqueid")
        if bridge:
            self.bridges.add(bridge)

    def _bridge_destroy(self, msg: Event, now: float) -> None:
        self.bridges.discard(msg.get("BridgeUniqueid", ""))

    def _snap_bridges(self, items: Iterable[Event], now: float) -> None:
        self.bridges = {
            item["BridgeUniqueid"]
            for item in items
            if item.get("Event") == "BridgeListItem" and item.get("BridgeUniqueid")
        }


def event_time(msg: Event, default: float) -> float:
    """An event's `Timestamp` (seconds since the epoch, with microseconds, rendered by
    manager.conf's `timestampevents = yes`), or `default` when absent or malformed."""
    value = msg.get("Timestamp")
    if value:
        try:
            stamp = float(value)
        except ValueError:
            return default
        if stamp > 0 and stamp == stamp:  # not NaN
            return stamp
    return default


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _rtt(usec: str | None) -> float | None:
    value = _int(usec)
    return value / 1e6 if value is not None and value > 0 else None


def _hms(value: str | None) -> float | None:
    """CoreShowChannel Duration `HH:MM:SS` -> seconds."""
    if not value:
        return None
    try:
        h, m, s = value.split(":")
        return int(h) * 3600 + int(m) * 60 + int(s)
    except ValueError:
        return None


def _cause_label(cause: str | None) -> str:
    """A Q.850 cause code (0-127) or "unknown": never free text, so the label stays bounded."""
    value = _int(cause)
    return str(value) if value is not None and 0 <= value <= 127 else "unknown"
