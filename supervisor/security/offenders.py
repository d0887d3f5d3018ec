"""The top offending sources for /status: a bounded table of failures per source.

At most `max_sources` sources are kept (the one seen longest ago is forgotten first), each with
at most `max_accounts` distinct account names tried (the most recent ones). `top(n)` sorts by
failures: O(k log k) for k kept sources, only when /status is read.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from supervisor.security.events import IPAddress, SecurityEvent


@dataclass(kw_only=True)
class Offender:
    address: IPAddress
    failures: int = 0
    first_seen: float
    last_seen: float
    accounts: OrderedDict[str, None] = field(default_factory=OrderedDict)
    kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "address": str(self.address),
            "failures": self.failures,
            "first_seen": round(self.first_seen, 3),
            "last_seen": round(self.last_seen, 3),
            "accounts": list(self.accounts),
            "events": dict(sorted(self.kinds.items())),
        }


class Offenders:
    def __init__(self, *, max_sources: int = 1000, max_accounts: int = 10) -> None:
        self.max_sources = max_sources
        self.max_accounts = max_accounts
        self._table: OrderedDict[IPAddress, Offender] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def record(self, event: SecurityEvent, now: float) -> None:
        """Count a failure event against its source (other events are ignored)."""
        if not event.failure or event.source is None:
            return
        entry = self._table.get(event.source)
        if entry is None:
            entry = Offender(address=event.source, first_seen=now, last_seen=now)
            self._table[event.source] = entry
            if len(self._table) > self.max_sources:
                self._table.popitem(last=False)
        else:
            self._table.move_to_end(event.source)
        entry.failures += 1
        entry.last_seen = now
        entry.kinds[event.kind] = entry.kinds.get(event.kind, 0) + 1
        if event.account is not None:
            entry.accounts[event.account] = None
            entry.accounts.move_to_end(event.account)
            if len(entry.accounts) > self.max_accounts:
                entry.accounts.popitem(last=False)

    def get(self, address: IPAddress) -> Offender | None:
        return self._table.get(address)

    def top(self, n: int = 10) -> list[Offender]:
        return sorted(self._table.values(), key=lambda o: (-o.failures, -o.last_seen))[:n]
