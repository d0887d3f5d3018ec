"""Asterisk's state as seen through AMI: the connection, the core, and two parts with one job
each, `peers` (registrations, endpoints, contacts: ami/peers.py) and `calls` (channels, calls,
bridges: ami/calls.py).

A pure state machine: `event(msg, now)` for each AMI event and `snapshot(kind, items, now)` for
each re-sync list, applied in the order they appear on the AMI stream (the client guarantees that),
routed here to the part that owns them. Metrics read it at scrape time (supervisor/metrics), so
the event path only updates dicts and integers. Times come from the events' own `Timestamp`
header (manager.conf `timestampevents = yes`), not from their arrival.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from supervisor.ami.calls import CallObserver, Calls
from supervisor.ami.fields import Event, event_time, integer
from supervisor.ami.peers import Peers
from supervisor.ami.protocol import PROTOCOL_ERRORS


class AsteriskState:
    """Everything the metrics need, fed by AMI events and re-sync snapshots. `trunks` and
    `call_observers` are the calls' (see `Calls`)."""

    def __init__(
        self,
        *,
        trunks: Mapping[str, str] | None = None,
        call_observers: Iterable[CallObserver] = (),
    ) -> None:
        self.peers = Peers()
        self.calls = Calls(trunks=trunks, observers=call_observers)
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
        peers, calls = self.peers, self.calls
        self._routes: dict[str, Callable[[Event, float], None]] = {
            "Newchannel": calls.newchannel,
            "Newstate": calls.newstate,
            "Hangup": calls.hangup,
            "DialEnd": calls.dialend,
            "BridgeCreate": calls.bridge_create,
            "BridgeDestroy": calls.bridge_destroy,
            "Registry": peers.registry,
            "ContactStatus": peers.contact_status,
            "FullyBooted": self._fully_booted,
            "Reload": self._reload,
        }
        self._snapshots: dict[str, Callable[[Iterable[Event], float], None]] = {
            "PJSIPShowRegistrationsOutbound": peers.snap_registrations,
            "PJSIPShowEndpoints": peers.snap_endpoints,
            "PJSIPShowContacts": peers.snap_contacts,
            "PJSIPShowEndpoint": peers.snap_contacts,
            "CoreShowChannels": calls.snap_channels,
            "BridgeList": calls.snap_bridges,
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
        self.core_current_calls = integer(response.get("CoreCurrentCalls"))
        self.core_processed_calls = integer(response.get("CoreProcessedCalls"))

    def core_settings(self, response: Event) -> None:
        self.version = response.get("AsteriskVersion") or self.version

    def set_connected(self, connected: bool, now: float) -> None:
        self.ami_connected = connected
        if not connected:
            self.synced = False
            self.calls.disconnected()

    def set_synced(self) -> None:
        """The full re-sync after a login is applied: the state describes Asterisk now."""
        self.synced = self.calls.synced = True

    @property
    def live(self) -> bool:
        """Logged in and re-synced: gauges of Asterisk's current state are meaningful."""
        return self.ami_connected and self.synced

    # ---- core ----------------------------------------------------------------------------------

    def _fully_booted(self, msg: Event, now: float) -> None:
        uptime, last_reload = integer(msg.get("Uptime")), integer(msg.get("LastReload"))
        if uptime is not None:
            self.started_at = now - uptime
        if last_reload is not None:
            self.reloaded_at = now - last_reload

    def _reload(self, msg: Event, now: float) -> None:
        self.reloaded_at = now
