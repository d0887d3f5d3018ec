"""The recorder: folds the record's ended calls into the history and counts them, prunes it.

It wakes every `interval` (and at once on a hint: an AMI (re)connect, a Hangup seen), so a call
is counted about a second after Asterisk recorded its end, whether AMI saw the call or not, and
exactly once (store.py). `asterisk_supervisor_calls_total` is these counts: a process that starts
(the supervisor restarted while Asterisk kept running) counts what the record holds and no
earlier process folded, so the counter's increase over any time range is the record's.

Calls whose end the record will never hold (Asterisk killed, or a CEL write lost) are folded as
`lost` once a synced AMI view (`live()`) no longer has them and no event of theirs came for
`stale_s`; without a synced view nothing is declared lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Final, NoReturn, Protocol

from supervisor.records.fold import CallRecord
from supervisor.records.store import RecordError, RecordStore

log = logging.getLogger(__name__)

DAY: Final = 86400.0
#: How often the recorder folds without a hint (seconds).
FOLD_EVERY_S: Final = 1.0
#: A call with no event for this long, and not among Asterisk's calls, is folded as `lost`.
LOST_AFTER_S: Final = 15.0


class SiteRecords(Protocol):
    @property
    def keep_days(self) -> int: ...

    @property
    def keep_calls(self) -> int: ...


class SiteTrunks(Protocol):
    @property
    def trunks(self) -> Mapping[str, object]: ...

    @property
    def records(self) -> SiteRecords: ...


class AppliedSite(Protocol):
    """The recorder's view of an applied config (`supervisor.reload.Config` satisfies it)."""

    @property
    def site(self) -> SiteTrunks: ...


@dataclass(frozen=True, kw_only=True)
class Retention:
    """How long the history keeps calls: at most `days` and at most the newest `calls`."""

    days: float = 400.0
    calls: int = 1_000_000


class Recorder:
    def __init__(
        self,
        *,
        store: RecordStore,
        live: Callable[[], Collection[str] | None],
        retention: Retention = Retention(),
        interval_s: float = FOLD_EVERY_S,
        min_gap_s: float = 0.25,
        stale_s: float = LOST_AFTER_S,
        prune_every_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._live = live
        self.retention = retention
        self.interval_s = interval_s
        self.min_gap_s = min(min_gap_s, interval_s)
        self.stale_s = stale_s
        self.prune_every_s = prune_every_s
        self._clock = clock
        self._trunks: dict[str, str] = {}
        self._wake = asyncio.Event()
        #: Folded calls by (direction, trunk, outcome): asterisk_supervisor_calls_total.
        self.counts: dict[tuple[str, str, str], int] = {}
        self.errors = 0
        self.last_error: str | None = None
        #: Calls whose events are in the record but not folded yet, at the last pass (None:
        #: not known yet). 0 once every call that began has been counted.
        self.queued: int | None = None
        self._pruned_at = float("-inf")

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: its trunks decide direction and trunk of calls folded from now,
        its retention the next prune."""
        site = config.site
        self.set_trunks({name: name for name in site.trunks})
        self.retention = Retention(days=site.records.keep_days, calls=site.records.keep_calls)

    def set_trunks(self, trunks: Mapping[str, str]) -> None:
        """Trunk endpoint -> trunk name (the `trunk` label)."""
        self._trunks = dict(trunks)

    def hint(self, *_args: object) -> None:
        """Fold now (an AMI login, a Hangup): usable as an AMI event or boot listener."""
        self._wake.set()

    def count(self, records: list[CallRecord]) -> None:
        for record in records:
            self.counts[record.key] = self.counts.get(record.key, 0) + 1

    def _step(self, live: Collection[str] | None, now: float) -> list[CallRecord]:
        """One pass (blocking, in a thread): fold ended calls, then lost ones (when `live`, read
        on the loop, is known), then prune when due; the newly recorded calls."""
        trunks = self._trunks
        new = []
        while batch := self.store.fold_ended(trunks):
            new += batch
        if live is not None:
            new += self.store.fold_lost(trunks, live, now - self.stale_s)
        self.queued = self.store.open_calls()
        if now - self._pruned_at >= self.prune_every_s:
            self._pruned_at = now
            removed = self.store.prune(
                older_than=now - self.retention.days * DAY, keep=self.retention.calls
            )
            if removed:
                log.info("call record: %d calls past retention removed", removed)
        return new

    async def run(self) -> NoReturn:
        while True:
            self._wake.clear()
            live = self._live()
            frozen = None if live is None else frozenset(live)
            try:
                new = await asyncio.to_thread(self._step, frozen, self._clock())
            except RecordError as exc:
                self.errors += 1
                if str(exc) != self.last_error:
                    log.warning("call record: %s", exc)  # a path and SQLite's reason, no data
                self.last_error = str(exc)
            else:
                self.last_error = None
                self.count(new)
            # Hints (a Hangup per channel) coalesce: at most one pass per `min_gap_s`, so a
            # busy PBX costs a few passes a second, not one per hangup.
            await asyncio.sleep(self.min_gap_s)
            try:
                async with asyncio.timeout(max(self.interval_s - self.min_gap_s, 0.0)):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def status(self) -> dict[str, object]:
        """The /status section: where the record is and whether it is being written."""
        return {
            "path": str(self.store.path),
            "calls_counted": sum(self.counts.values()),
            "calls_queued": self.queued,
            "errors": self.errors,
            "last_error": self.last_error,
        }
