"""The supervisor's AMI connection: login, bounded actions, ping, reconnect with backoff, re-sync.

Usage (the composition root; the renderer names a trunk's endpoint and registration after the
trunk, so the map is the identity over the site's trunks):

    state = AsteriskState(trunks={name: name for name in site.trunks})
    client = AmiClient(settings=AmiSettings(username="supervisor", secret=ami_secret), state=state)
    AsteriskCollector.register(registry, state)              # supervisor.metrics.asterisk
    board.add(ami_checks(client))                            # supervisor.ami.checks
    app = http.make_app(registry); runner = await http.start(app, host, port)
    tg.create_task(client.run(), name="ami")                 # never returns
    Reloader(..., booted=client.fully_booted)                # set while FullyBooted
    client.on_boot(applier.asterisk_started)                 # at each FullyBooted edge
    await client.wait_fully_booted(timeout)                  # or wait for it directly
    reply = await client.action({"Action": "CoreSettings"}, timeout=5)
    unsubscribe = client.subscribe("Reload", callback)       # sync callback, in stream order
    state.set_trunks(...)                                    # after a site change

The connection lifecycle is ours, not panoramisk's Manager's: `while True: connect; login; wait for
FullyBooted; full re-sync; serve until lost; back off`. Re-sync actions complete at their position
in the event stream (see protocol.py), so events before a snapshot apply to the old state and
events after it to the new one; the state machine's per-key idempotence covers the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from supervisor.ami.protocol import AmiProtocol
from supervisor.ami.state import AsteriskState
from supervisor.ami.types import AmiError, Message
from supervisor.backoff import Backoff, backoff_delay

# Timeouts use asyncio.timeout(), never wait_for(): on Python 3.11 wait_for() swallows a
# cancellation that arrives as the awaited future completes, and the client's task would then
# survive its own shutdown (seen in the replay benchmark).

log = logging.getLogger(__name__)

__all__ = ["AmiAuthError", "AmiClient", "AmiSettings", "backoff_delay"]

#: The full re-sync after every login: list actions whose results replace state, then core facts.
RESYNC_ACTIONS: tuple[str, ...] = (
    "PJSIPShowRegistrationsOutbound",
    "PJSIPShowEndpoints",
    "PJSIPShowContacts",
    "CoreShowChannels",
    "BridgeList",
    "CoreStatus",
    "CoreSettings",
)
#: On a timer while connected: calls and bridges, so a missed event never leaves a phantom.
RECONCILE_ACTIONS: tuple[str, ...] = ("CoreShowChannels", "BridgeList")
#: After a Reload event: what a reload can change (objects appear or vanish without events).
RELOAD_RESYNC_ACTIONS: tuple[str, ...] = (
    "PJSIPShowRegistrationsOutbound",
    "PJSIPShowEndpoints",
    "PJSIPShowContacts",
)

EventCallback = Callable[[Mapping[str, str]], None]


class AmiAuthError(AmiError):
    """Asterisk refused the login."""


@dataclass(frozen=True, kw_only=True)
class AmiSettings:
    username: str
    secret: str = field(repr=False)  # never in logs or reprs
    host: str = "127.0.0.1"
    port: int = 5038
    connect_timeout: float = 5.0
    action_timeout: float = 5.0  # login and re-sync actions
    ping_interval: float = 5.0
    ping_timeout: float = 3.0
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    # Calls and bridges re-read on this timer (two lists confirm a phantom: see state.py);
    # one list is a few hundred bytes per active channel, nothing at this rate.
    reconcile_interval: float = 30.0
    resync_interval: float = 300.0  # full re-sync (trunks, contacts too) while connected


class AmiClient:
    """Implements `supervisor.ami.types.AmiActions` over one managed AMI connection."""

    def __init__(
        self,
        *,
        settings: AmiSettings,
        state: AsteriskState,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.state = state
        self._clock = clock
        self._rng = rng
        #: Set while the current session has seen FullyBooted; cleared on disconnect, Shutdown
        #: and close(). The one place that knows whether Asterisk is booted (see on_boot).
        self.fully_booted = asyncio.Event()
        self._boot_listeners: list[Callable[[], None]] = []
        #: Set while logged in.
        self.connected = asyncio.Event()
        self._protocol: AmiProtocol | None = None
        self._logins = 0
        self._resync_kinds: dict[str, str] = {}  # ActionID -> action name, for snapshot routing
        self._reload_seen = asyncio.Event()
        self._reconnect_now = asyncio.Event()
        self._subscribers: dict[str, list[EventCallback]] = {}
        self._watched = frozenset({"FullyBooted", "Shutdown", "Reload"})

    # ---- public API ----------------------------------------------------------------------------

    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        """See AmiActions. Actions are never replayed after a reconnect: a lost connection fails
        them (AmiError) and the caller decides."""
        name = action.get("Action", "")
        if name.lower() in ("login", "logoff", "challenge"):
            raise AmiError(f"AMI action {name} is reserved to the connection")
        proto = self._protocol
        if proto is None or proto.closed or not self.connected.is_set():
            raise AmiError(f"AMI action {name}: not connected")
        messages = await self._send(proto, dict(action), timeout)
        return [_plain(m) for m in messages]

    def subscribe(self, event: str, callback: EventCallback) -> Callable[[], None]:
        """Call `callback(event)` synchronously for each event of that name, in stream order,
        after the state has applied it. Returns the unsubscribe function. Only events listed in
        amiaccess.EVENTS reach the supervisor's AMI user."""
        self._subscribers.setdefault(event, []).append(callback)
        self._watched = frozenset({"FullyBooted", "Shutdown", "Reload", *self._subscribers})

        def unsubscribe() -> None:
            with contextlib.suppress(KeyError, ValueError):
                self._subscribers[event].remove(callback)

        return unsubscribe

    def on_boot(self, callback: Callable[[], None]) -> None:
        """Call `callback()` at each rising edge of `fully_booted` (Asterisk started, or a new
        session to a running one), before anything waiting on `fully_booted` runs: a listener
        that marks the config as running in Asterisk does so before the reload loop wakes."""
        self._boot_listeners.append(callback)

    async def wait_fully_booted(self, timeout: float | None = None) -> None:
        """Wait until the connected Asterisk has sent FullyBooted (TimeoutError after timeout)."""
        async with asyncio.timeout(timeout):
            await self.fully_booted.wait()

    async def run(self) -> NoReturn:
        """Keep a session up forever; never returns (run it as a named, guarded task)."""
        backoff = Backoff(
            initial=self.settings.backoff_initial, maximum=self.settings.backoff_max, rng=self._rng
        )
        while True:
            resynced = False
            try:
                resynced = await self._session()
            except AmiAuthError as exc:
                log.error("AMI login to %s:%s refused: %s", self._where[0], self._where[1], exc)
            except (OSError, TimeoutError, AmiError) as exc:
                log.warning("AMI session to %s:%s ended: %s", *self._where, _describe(exc))
            finally:
                self._disconnected()
            # A session that got through a re-sync was healthy: start the backoff over.
            if resynced:
                backoff.reset()
            delay = backoff.next()
            log.info("AMI reconnect in %.2f s", delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._reconnect_now.wait()
            if self._reconnect_now.is_set():
                self._reconnect_now.clear()
                backoff.reset()

    def close(self) -> None:
        """Close the current connection (run() then reconnects unless it is cancelled). Asterisk
        counts as not booted from now on, not only once the session's end is noticed."""
        self._set_booted(False)
        if self._protocol is not None:
            self._protocol.close()

    def _set_booted(self, booted: bool) -> None:
        if booted == self.fully_booted.is_set():
            return
        if not booted:
            self.fully_booted.clear()
            return
        for callback in self._boot_listeners:
            try:
                callback()
            except Exception:  # one listener's bug must not keep Asterisk from counting as booted
                log.exception("FullyBooted listener failed")
        self.fully_booted.set()

    def reconnect_now(self) -> None:
        """A new Asterisk is starting: end the current session and skip the backoff (which may
        have grown to its maximum while the old one was hung or down), so the new one is seen
        from its first seconds."""
        self.close()
        self._reconnect_now.set()

    # ---- session -------------------------------------------------------------------------------

    @property
    def _where(self) -> tuple[str, int]:
        return self.settings.host, self.settings.port

    async def _session(self) -> bool:
        """One connection from connect to loss; True if it completed a full re-sync."""
        loop = asyncio.get_running_loop()
        s = self.settings
        async with asyncio.timeout(s.connect_timeout):
            _, proto = await loop.create_connection(
                lambda: AmiProtocol(self._on_event, self._on_complete, self.state.protocol_error),
                s.host,
                s.port,
            )
        self._protocol = proto
        try:
            reply = await self._send(
                proto,
                {"Action": "Login", "Username": s.username, "Secret": s.secret, "Events": "on"},
                s.action_timeout,
            )
            if reply[0].get("Response") != "Success":
                raise AmiAuthError(str(reply[0].get("Message", "no reason given")))
            self._logins += 1
            if self._logins > 1:
                self.state.ami_reconnects += 1
            self.state.set_connected(True, self._clock())
            self.connected.set()
            log.info("AMI logged in to %s:%s", s.host, s.port)
            resynced = asyncio.Event()
            tasks = [
                asyncio.create_task(self._pinger(proto), name="ami-ping"),
                asyncio.create_task(self._syncer(proto, resynced), name="ami-resync"),
            ]
            try:
                await proto.lost
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            return resynced.is_set()
        finally:
            proto.close()

    def _disconnected(self) -> None:
        self._protocol = None
        self._resync_kinds.clear()
        self.connected.clear()
        self._set_booted(False)
        self.state.set_connected(False, self._clock())

    async def _send(self, proto: AmiProtocol, fields: dict[str, str], timeout: float) -> list[Any]:
        action_id, future = proto.send_action(fields)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            proto.forget(action_id)
            raise AmiError(
                f"AMI action {fields.get('Action')} timed out after {timeout:g} s"
            ) from None
        except ConnectionError:
            raise AmiError(f"AMI connection lost during {fields.get('Action')}") from None

    async def _pinger(self, proto: AmiProtocol) -> None:
        """panoramisk sends pings but never checks replies: a stalled Asterisk would look
        connected forever. CoreStatus doubles as the ping (it also refreshes asterisk_calls_*);
        no answer in time closes the connection, and run() reconnects."""
        s = self.settings
        try:
            while True:
                await asyncio.sleep(s.ping_interval)
                await self._send(proto, {"Action": "CoreStatus"}, s.ping_timeout)
        except AmiError as exc:
            log.warning("AMI ping failed (%s): closing the connection", exc)
            proto.close()

    async def _syncer(self, proto: AmiProtocol, resynced: asyncio.Event) -> None:
        """Full re-sync once Asterisk is FullyBooted (PJSIP lists are empty before), then a
        partial one after each Reload event and a full one every resync_interval. A failed
        re-sync closes the connection: state that cannot be re-read cannot be trusted, and the
        next login re-syncs from scratch."""
        try:
            await self.fully_booted.wait()
            await self._reconcile(proto, RESYNC_ACTIONS)
            self.state.set_synced()
            resynced.set()
            log.info("AMI re-sync done")
            loop = asyncio.get_running_loop()
            next_full = loop.time() + self.settings.resync_interval
            while True:
                names = RECONCILE_ACTIONS
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.reconcile_interval):
                        await self._reload_seen.wait()
                    self._reload_seen.clear()
                    names = RELOAD_RESYNC_ACTIONS
                # Also a full re-sync now and then: a missed event (Asterisk under load, a bug)
                # would otherwise keep a gauge wrong for the whole session.
                if loop.time() >= next_full:
                    names = RESYNC_ACTIONS
                    next_full = loop.time() + self.settings.resync_interval
                await self._reconcile(proto, names)
        except AmiError as exc:
            log.warning("AMI re-sync failed (%s): closing the connection", exc)
            proto.close()
        except Exception:  # a bug must not leave a half-synced connection looking healthy
            log.exception("AMI re-sync crashed: closing the connection")
            proto.close()

    async def _reconcile(self, proto: AmiProtocol, names: Sequence[str]) -> None:
        lost = self.state.calls.lost
        await self._resync(proto, names)
        if "PJSIPShowEndpoints" in names:
            await self._contact_details(proto)
        if self.state.calls.lost > lost:
            log.warning(
                "AMI re-sync: %d call(s) that Asterisk no longer has were closed "
                "(their end was not seen; counted with outcome lost)",
                self.state.calls.lost - lost,
            )

    async def _contact_details(self, proto: AmiProtocol) -> None:
        """Static contacts appear in no list with their status, and their ContactStatus event
        came before we connected: ask their endpoints one by one (usually trunks and a few
        fixed devices; phones register and come with PJSIPShowContacts)."""
        for endpoint in self.state.peers.endpoints_without_status():
            await self._resync(proto, ("PJSIPShowEndpoint",), {"Endpoint": endpoint})

    async def _resync(
        self, proto: AmiProtocol, names: Sequence[str], fields: Mapping[str, str] | None = None
    ) -> None:
        # Sent back to back (pipelined); each snapshot is applied by _on_complete at its place in
        # the stream, so waiting for them here only bounds the time.
        pending = []
        for name in names:
            action_id, future = proto.send_action({"Action": name, **(fields or {})})
            self._resync_kinds[action_id] = name
            pending.append((name, action_id, future))
        try:
            for name, action_id, future in pending:
                try:
                    async with asyncio.timeout(self.settings.action_timeout):
                        await future
                except TimeoutError:
                    proto.forget(action_id)
                    raise AmiError(f"re-sync action {name} timed out") from None
                except ConnectionError:
                    raise AmiError(f"AMI connection lost during re-sync {name}") from None
        finally:
            for _, action_id, future in pending:
                self._resync_kinds.pop(action_id, None)
                # Nobody awaits the rest once one failed: settle them quietly.
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()

    # ---- stream callbacks (synchronous, in stream order) ---------------------------------------

    def _on_event(self, event: dict[str, str]) -> None:
        self.state.event(event, self._clock())
        name = event.get("Event", "")
        if name not in self._watched:
            return
        if name == "FullyBooted":
            self._set_booted(True)
        elif name == "Shutdown":
            self._set_booted(False)
        elif name == "Reload":
            self._reload_seen.set()
        for callback in self._subscribers.get(name, ()):
            try:
                callback(event)
            except Exception:  # one subscriber's bug must not break the event stream
                log.exception("AMI event subscriber for %s failed", name)

    def _on_complete(self, action: Any, messages: list[Any]) -> None:
        name = str(action.get("Action", ""))
        first = messages[0] if messages else {}
        if name == "CoreStatus" and first.get("Response") == "Success":
            self.state.core_status(first)
        elif name == "CoreSettings" and first.get("Response") == "Success":
            self.state.core_settings(first)
        kind = self._resync_kinds.get(action.id)
        if kind is None:
            return
        response = str(first.get("Response", ""))
        if response == "Success" or str(first.get("Message", "")).startswith("No "):
            # "No Contacts found" / "No endpoints found" answer Error: an empty list.
            self.state.snapshot(kind, messages[1:], self._clock())
        else:
            log.warning("AMI re-sync %s answered %s: state kept", kind, response or "nothing")


def _plain(message: Any) -> dict[str, str]:
    """panoramisk Message -> plain dict; repeated headers joined by newlines."""
    result: dict[str, str] = {}
    for key, value in message.items():
        if key == "content":
            if value:
                result[key] = str(value)
            continue
        result[str(key)] = "\n".join(value) if isinstance(value, list) else str(value)
    return result


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
