"""The security guard: Asterisk's security events in, bans out as a deny ACL Asterisk runs.

    guard = SecurityGuard(registry=registry, store=BanStore(path))       # bans from the store
    for name in events.SUBSCRIBED: ami.subscribe(name, guard.on_event)   # AMI stream, in order
    render = lambda loaded: render(loaded, context, guard.blocked(policy_settings(loaded.site)))
    live.subscribe(guard)                     # on_config: the site's policy (lifts exempt bans)
    tg.create_task(guard.run(apply=applier.refresh, ready=booted))       # apply ban changes, and
                                                     # rate-limit Asterisk's relayed lines
    AsteriskSupervisor(..., screen=guard.screen)     # per-request lines counted, not relayed

Data flows one way: events -> policy -> ban list (+ store) -> render(site, bans) -> apply.
A ban change wakes `run`, which persists the list and re-applies the live site with it (usually
only acl.conf changes and only module `acl` reloads, on which res_pjsip_acl re-reads its ACL
objects: render/acl.py). Changes that arrive while
one is applied are taken together by the next apply. Expiry is a timer on the earliest ban.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NoReturn, Protocol

from prometheus_client import CollectorRegistry, Counter

from supervisor.security import events
from supervisor.security.events import Key
from supervisor.security.fromsite import policy_settings
from supervisor.security.logfilter import (
    FailedRequestSummary,
    LineScreen,
    RefusalSummary,
    RelayLimiter,
)
from supervisor.security.metrics import SecurityMetrics
from supervisor.security.offenders import Offenders
from supervisor.security.policy import (
    VOUCH_TIME,
    Ban,
    BanPolicy,
    Collapsed,
    PolicySettings,
    collapse_keyed,
)
from supervisor.security.store import BanStore
from supervisor.site.model import Site
from supervisor.status import Check

log = logging.getLogger(__name__)

ASTERISK_LOGGER = "asterisk"  # where supervisor.process relays Asterisk's console output
BANNABLE_SERVICE = "PJSIP"  # what a res_pjsip ACL can refuse
RETRY_S = 5.0  # after a failed apply (Asterisk down, a reload refused)
TOP = 10  # offenders shown in /status
#: The offenders table's kind for a batch of unanswered challenges to a real account.
UNANSWERED = "UnansweredChallenges"
EVICTION_LOG_S = 60.0
#: One log line per new ban for the first BAN_LINES of each BAN_LOG_S, then one line with the
#: number: 10,000 sources a minute made 10,000 lines, which cost the event loop more than the
#: bans themselves (profiled, bench/reports/attack.notes.md).
BAN_LINES = 20
SAVE_EVERY_S = 5.0  # the ban file is rewritten at most this often while bans keep changing
BAN_LOG_S = 60.0
CONTACTS_EVERY_S = 1.0  # registered contacts are re-read at most this often, and only when
# an unproven failure asks (an attack), never per event
CONTACT_HOST = re.compile(r"@(?:\[([0-9A-Fa-f:.]+)\]|(\d+\.\d+\.\d+\.\d+))")


class Outcome(Protocol):
    """What an apply reports (`supervisor.reload.ApplyResult` satisfies it)."""

    @property
    def outcome(self) -> str: ...

    @property
    def problems(self) -> Sequence[str]: ...


Apply = Callable[[], Awaitable[Outcome]]
"""Re-applies the live site, rendering `blocked()` (the applier's `refresh`)."""


class AppliedSite(Protocol):
    """The guard's view of an applied config (`supervisor.reload.Config` satisfies it)."""

    @property
    def site(self) -> Site: ...


@dataclass(frozen=True)
class _Failed:
    problems: tuple[str, ...]
    outcome: str = "failed"


class SecurityGuard:
    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        settings: PolicySettings | None = None,
        store: BanStore | None = None,
        contacts: Callable[[], Iterable[str]] = tuple,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`contacts`: the URIs of the contacts registered now (AMI state). With rewrite_contact
        they hold the address each device registered from: vouched for, so that after a
        restart of the supervisor a registered phone is protected before its next login."""
        self._contacts = contacts
        self._contact_uris: frozenset[str] = frozenset()
        self._contacts_read = -CONTACTS_EVERY_S
        self._clock = clock
        self._monotonic = monotonic
        self.store = store
        settings = settings or PolicySettings()
        loaded = store.load(clock(), settings.max_bans) if store is not None else []
        self.policy = BanPolicy(settings, loaded)
        self._snapshot: tuple[Ban, ...] = self.policy.bans
        if loaded and store is not None:
            log.info("%d blocked source(s) restored from %s", len(self.policy.bans), store.path)
        self.offenders = Offenders()
        self.metrics = SecurityMetrics(registry, lambda: len(self.policy))
        #: Asterisk's console lines go through this before the logger (app.py wires it).
        self.screen = self.line_screen()
        self._evictions_logged = (0, -EVICTION_LOG_S)  # (evictions so far, when last logged)
        # Ban lines this minute: (logged one by one, not logged, when the minute began).
        self._ban_lines = (0, 0, monotonic())
        self._changed = asyncio.Event()
        self._generation = 0  # bumped on every ban list change
        self._applied = 0  # the generation Asterisk runs (0: the bans rendered at start-up)
        self._pending: dict[events.IPNetwork, float] = {}  # banned -> monotonic time of ban
        self.last_error: str | None = None
        self._saver: asyncio.Task[None] | None = None
        # blocked(): the ban list merged, kept up to date by additions (policy.Collapsed).
        self._collapsed = Collapsed()
        self._collapsed_keys: set[Key] = set()
        self._collapse_lock = threading.Lock()
        # Children of the events counter; bounded like its labels (KNOWN_EVENTS x services).
        self._counters: dict[tuple[str, str], Counter] = {}

    # -- inputs --------------------------------------------------------------------------------

    def on_event(self, message: Mapping[str, str]) -> None:
        """An AMI security event (synchronous, in stream order)."""
        event = events.parse(message)
        counter = self._counters.get((event.kind, event.service))
        if counter is None:  # labels() takes a lock and builds a key: once per label pair
            counter = self._counters[event.kind, event.service] = self.metrics.events.labels(
                event=event.kind, service=event.service
            )
        counter.inc()
        if event.source is None:
            return
        if event.service == BANNABLE_SERVICE and event.kind == "SuccessfulAuth":
            # Asterisk's nonce is bound to the source address: this device got our challenge
            # there. Its address is vouched for against forged (unproven) failures.
            self.policy.vouch(event.source, self._clock())
            return
        if event.service == BANNABLE_SERVICE and event.kind == "ChallengeSent":
            self._challenged(event)
            return
        if not event.failure:
            return
        self._failed(event)

    def _challenged(self, event: events.SecurityEvent) -> None:
        """A request naming a real endpoint (AccountID is its name, else `<unknown>`, which
        InvalidAccountID reports) was challenged: a batch of unanswered ones is a failure."""
        if event.account is None or event.source is None:
            return
        if self.policy.challenge(event.source, self._clock()):
            self.metrics.unanswered.labels(endpoint=event.account).inc()
            self._failed(replace(event, kind=UNANSWERED, failure=True))

    def _failed(self, event: events.SecurityEvent) -> None:
        assert event.source is not None
        now = self._clock()
        self.offenders.record(event, now)
        if event.service != BANNABLE_SERVICE:
            # The ACL only guards SIP; AMI (loopback only) and HTTP failures are reported.
            return
        if not event.proven:
            self._vouch_contacts()
        evicted, unproven = self.policy.evicted, self.policy.unproven
        ban = self.policy.failure(event.source, now, proven=event.proven)
        if self.policy.unproven != unproven:
            self.metrics.unproven.inc()
        if ban is not None:
            self._banned(ban, event.source)
        if self.policy.evicted != evicted:
            self._evicted(self.policy.evicted - evicted)

    def _vouch_contacts(self) -> None:
        """Vouch for the addresses of contacts registered since the last read (all of them
        again once VOUCH_TIME/2 has passed, so that none lapses while registered)."""
        now = self._monotonic()
        if now - self._contacts_read < CONTACTS_EVERY_S:
            return
        if now - self._contacts_read > VOUCH_TIME / 2:
            self._contact_uris = frozenset()
        self._contacts_read = now
        current = frozenset(self._contacts())
        wall = self._clock()
        for uri in current - self._contact_uris:
            match = CONTACT_HOST.search(uri)
            if match is None:
                continue
            try:
                address = ipaddress.ip_address(match.group(1) or match.group(2))
            except ValueError:
                continue
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            self.policy.vouch(address, wall)
        self._contact_uris = current

    def _evicted(self, count: int) -> None:
        """The ban list is full: older plain bans were lifted early. Said at once, then at
        most once a minute while it lasts (an attack fills it with thousands a minute)."""
        self.metrics.evictions.inc(count)
        logged, when = self._evictions_logged
        now = self._monotonic()
        if now - when >= EVICTION_LOG_S:
            total = self.policy.evicted
            log.warning(
                "ban list full (%d): %d older ban(s) lifted early since the last report, "
                "oldest plain bans first; escalated bans are kept",
                self.policy.settings.max_bans,
                total - logged,
            )
            self._evictions_logged = (total, now)

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: follow its policy."""
        self.configure(policy_settings(config.site))

    def configure(self, settings: PolicySettings) -> None:
        """The site's policy (called after each applied site); lifts bans now exempt."""
        if settings == self.policy.settings:
            return
        lifted = self.policy.reconfigure(settings)
        for ban in lifted:
            log.info("unblocked %s (site change: exempt, or blocking off)", ban.source)
        if lifted:
            self._bump()

    def line_screen(self, interval: float = 60.0) -> LineScreen:
        """For Asterisk's console output, before it becomes log records: the per-request lines
        of ACL refusals and of failed requests counted and summarised, the others rate-limited
        per kind and source, escaped and truncated (see logfilter.py)."""
        failed = self.metrics.failed_lines
        return LineScreen(
            RefusalSummary(interval=interval, on_refused=self.metrics.refused.inc),
            FailedRequestSummary(
                interval=interval, on_failed=lambda reason: failed.labels(reason=reason).inc()
            ),
            RelayLimiter(interval=interval, on_dropped=self.metrics.log_dropped.inc),
        )

    # -- outputs -------------------------------------------------------------------------------

    def blocked(self, settings: PolicySettings | None = None) -> tuple[events.IPNetwork, ...]:
        """The networks the rendered ACL denies now, merged into the fewest prefixes (a /64
        banned inside a banned /56 is dropped, adjacent ones merge); with `settings` (of a site
        about to be applied), as that site's policy would have it: its exempt sources, or all
        when its blocking is off, left out. A NetworkList, which carries the networks' texts
        for the renderer. Under the live policy, kept up to date by the bans added since the
        last call (O(k log n); a lifted ban rebuilds it); another policy's from scratch."""
        if settings is not None and not settings.block:
            return ()
        # The renderer runs in a worker thread: it reads the snapshot (an immutable tuple
        # replaced on the event loop at each apply), never the policy's live dict.
        snapshot = self._snapshot
        if settings is not None and settings != self.policy.settings:
            # A site about to be applied with another policy: from scratch, without its exempt.
            pairs = collapse_keyed(
                (b.key, b.source) for b in snapshot if not settings.overlaps_exempt_key(b.key)
            )
            return events.NetworkList(
                (n for _, n in pairs), (events.network_text(n, k) for k, n in pairs)
            )
        with self._collapse_lock:  # the renderer's thread, or the loop's (tests, status)
            keys = {b.key for b in snapshot}
            if not self._collapsed_keys <= keys:  # a ban was lifted: start over
                self._collapsed, self._collapsed_keys = Collapsed(), set()
            sources = {b.key: b.source for b in snapshot if b.key not in self._collapsed_keys}
            for key in sorted(sources):  # only what is new since the last call
                self._collapsed.add(key, sources[key])
            self._collapsed_keys = keys
            return events.NetworkList(self._collapsed.networks, self._collapsed.texts)

    def checks(self) -> list[Check]:
        bans = len(self.policy)
        detail = (
            f"{bans} source(s) blocked, {len(self.offenders)} offending source(s) seen"
            if self.policy.settings.block
            else f"blocking off; {len(self.offenders)} offending source(s) seen"
        )
        if self._applied != self._generation:
            detail += "; ban list change not yet live in Asterisk"
        if self.last_error:
            detail += f"; last apply failed: {self.last_error}"
        return [Check(name="security", ok=True, detail=detail, gates_readiness=False)]

    def status(self) -> dict[str, object]:
        """/status: the top offenders (bounded) and the current bans (bounded by max_bans)."""
        return {
            "top_offenders": [
                {**o.as_dict(), "blocked": self.policy.banned(o.address)}
                for o in self.offenders.top(TOP)
            ],
            "blocked": [
                {"source": str(b.source), "since": b.since, "until": b.until}
                for b in self._snapshot[:TOP]
            ],
            "blocked_total": len(self.policy),
            "evicted_total": self.policy.evicted,
            "unproven_failures_total": self.policy.unproven,
        }

    # -- the apply loop ------------------------------------------------------------------------

    async def run(self, *, apply: Apply, ready: asyncio.Event | None = None) -> NoReturn:
        """Expire bans on time and make Asterisk run each new ban list; never returns.

        `apply` re-applies the live site (rendering `blocked()`): "applied" or "unchanged" is a
        success; `ready` is set while Asterisk can take a reload. (Asterisk's console lines are
        screened by `screen`, which the Asterisk process is given.)"""
        try:
            while True:
                self._expire()
                self._summarise_bans()
                if self._applied != self._generation and (ready is None or ready.is_set()):
                    # This apply takes every change so far; one during it wakes the next. (Not
                    # cleared, a failed apply was retried at once instead of after RETRY_S.)
                    self._changed.clear()
                    await self._apply(apply)
                await self._sleep(ready)
        finally:
            if self._saver is not None:
                self._saver.cancel()

    async def _sleep(self, ready: asyncio.Event | None) -> None:
        timeout = None
        expiry = self.policy.next_expiry()
        if expiry is not None:
            timeout = max(0.0, expiry - self._clock()) + 0.01
        if self._applied != self._generation:
            timeout = RETRY_S if timeout is None else min(timeout, RETRY_S)
        if self._ban_lines[1]:  # the summary of bans not logged one by one is due then
            due = max(0.0, self._ban_lines[2] + BAN_LOG_S - self._monotonic()) + 0.01
            timeout = due if timeout is None else min(timeout, due)
        waiters = [asyncio.ensure_future(self._changed.wait())]
        if ready is not None and not ready.is_set() and self._applied != self._generation:
            waiters.append(asyncio.ensure_future(ready.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._changed.clear()

    async def _apply(self, apply: Apply) -> None:
        generation = self._generation
        self._snapshot = self.policy.bans
        pending = dict(self._pending)
        # Saved beside the apply, not before it: an fsync on a busy disk must not delay the
        # block (a crash in between loses at most the changes since the last save, which the
        # next failures redo).
        self._save_soon()
        try:
            result = await apply()
        except Exception as exc:  # a bug below must not end the guard: count, log, retry
            log.exception("applying the ban list failed")
            result = _Failed((f"internal error: {type(exc).__name__}: {exc}",))
        if result.outcome in ("applied", "unchanged"):
            self._applied = generation
            self.last_error = None
            now = self._monotonic()
            for address, since in pending.items():
                self.metrics.block_latency.observe(now - since)
                self._pending.pop(address, None)
        else:
            self.metrics.apply_failures.inc()
            problems = result.problems or ("no result",)
            self.last_error = "; ".join(str(p) for p in problems)

    # -- internals -----------------------------------------------------------------------------

    def _save_soon(self) -> None:
        """Save the current ban list beside the applies, one save at a time, each of the latest
        list, and while it keeps changing at most every SAVE_EVERY_S: under a flood an apply
        follows the last at once, and writing (and fsyncing) 10,000 bans for every one of
        them cost more than the applies (profiled)."""
        if self._saver is None or self._saver.done():
            self._saver = asyncio.create_task(self._save_latest(), name="ban-list-save")

    async def _save_latest(self) -> None:
        saved: tuple[Ban, ...] | None = None
        while self._snapshot is not saved:
            if saved is not None:
                # Changes during a save wait a little and go together: a crash loses at most
                # SAVE_EVERY_S of bans, which their sources' next failures make again.
                await asyncio.sleep(SAVE_EVERY_S)
            saved = self._snapshot
            await self._save(saved)

    async def _save(self, bans: tuple[Ban, ...]) -> None:
        if self.store is None:
            return
        try:
            await asyncio.to_thread(self.store.save, bans)
        except OSError as exc:
            log.warning("ban list not saved to %s: %s", self.store.path, exc)

    def _banned(self, ban: Ban, address: events.IPAddress) -> None:
        self.metrics.blocks.inc()
        self._pending[ban.source] = self._monotonic()
        self._bump()
        logged, unlogged, since = self._ban_lines
        if logged >= BAN_LINES:
            self._ban_lines = (logged, unlogged + 1, since)
            return
        self._ban_lines = (logged + 1, unlogged, since)
        offender = self.offenders.get(address)
        tried = ", ".join(offender.accounts) if offender is not None and offender.accounts else ""
        log.warning(
            "blocking %s for %d s: %d failures within %d s (last from %s%s)",
            ban.source,
            round(ban.until - ban.since),
            ban.failures,
            round(self.policy.settings.window),
            address,
            f"; accounts tried: {tried}" if tried else "",
        )

    def _summarise_bans(self) -> None:
        """The bans beyond BAN_LINES a minute, in one line once the minute is over."""
        _, unlogged, since = self._ban_lines
        now = self._monotonic()
        if now - since < BAN_LOG_S:
            return
        if unlogged:
            log.warning(
                "blocked %d more source(s) in the last %.0f s (one line each for the first %d "
                "a minute; all counted in asterisk_supervisor_blocks_total, listed in /status)",
                unlogged,
                now - since,
                BAN_LINES,
            )
        self._ban_lines = (0, 0, now)

    def _expire(self) -> None:
        expired = self.policy.expire(self._clock())
        for ban in expired:
            log.info("unblocked %s (ban time over)", ban.source)
            self._pending.pop(ban.source, None)
        if expired:
            self._bump()

    def _bump(self) -> None:
        # The snapshot (a sort of every ban) is taken once per apply, not once per ban: at
        # 10,000 new sources a minute that is the difference between n log n and n² log n.
        self._generation += 1
        self._changed.set()
