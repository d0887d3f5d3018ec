"""The ban decision, pure: failures per source in a sliding window, bans that expire, bounds.

A source is banned at its `max_failures`-th failure within `window` seconds, for `ban_time`
seconds. Sources in `exempt` (trunk hosts, identified devices, the allow-list, the pod's own
addresses) are never banned. Memory is bounded: at most `max_tracked` sources have failure
windows (the one inactive longest is forgotten first) and at most `max_bans` are banned (a new
ban replaces the one that would expire first: the oldest, so the freshest attackers stay
blocked). Every operation is O(log n) but the exemption test, which is linear in the
(bounded, small) exemption list. Times are wall-clock seconds, so bans survive a restart.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from supervisor.security.events import IPAddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, kw_only=True)
class PolicySettings:
    block: bool = True
    max_failures: int = 5
    window: float = 600.0
    ban_time: float = 3600.0
    max_bans: int = 1000
    max_tracked: int = 10_000
    exempt: tuple[IPNetwork, ...] = ()

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.max_bans < 1 or self.max_tracked < 1:
            raise ValueError("max_failures, max_bans and max_tracked must be at least 1")
        if self.window <= 0 or self.ban_time <= 0:
            raise ValueError("window and ban_time must be positive")

    def exempts(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.exempt)


@dataclass(frozen=True, kw_only=True)
class Ban:
    until: float
    address: IPAddress
    since: float
    failures: int


class BanPolicy:
    def __init__(self, settings: PolicySettings, bans: Iterable[Ban] = ()) -> None:
        self.settings = settings
        self._windows: OrderedDict[IPAddress, deque[float]] = OrderedDict()
        self._bans: dict[IPAddress, Ban] = {}
        self._heap: list[tuple[float, int, IPAddress]] = []  # (until, tiebreak, address)
        self._seq = 0
        self.evicted = 0  # bans replaced early because the list was full
        for ban in sorted(bans, key=lambda b: b.until):
            if not settings.exempts(ban.address):
                self._add(ban)

    # -- queries -------------------------------------------------------------------------------

    @property
    def bans(self) -> tuple[Ban, ...]:
        """Current bans, in address order (the rendered ACL is stable)."""
        return tuple(sorted(self._bans.values(), key=lambda b: (b.address.version, b.address)))

    def banned(self, address: IPAddress) -> bool:
        return address in self._bans

    def next_expiry(self) -> float | None:
        self._clean_heap()
        return self._heap[0][0] if self._heap else None

    def tracked(self) -> int:
        return len(self._windows)

    # -- changes -------------------------------------------------------------------------------

    def failure(self, address: IPAddress, now: float) -> Ban | None:
        """Record one failure; the new ban if this one crosses the threshold, else None."""
        s = self.settings
        if address in self._bans or s.exempts(address):
            return None
        window = self._windows.get(address)
        if window is None:
            window = self._windows[address] = deque(maxlen=s.max_failures)
            if len(self._windows) > s.max_tracked:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(address)
        window.append(now)
        if len(window) < s.max_failures or now - window[0] > s.window or not s.block:
            return None
        del self._windows[address]
        ban = Ban(address=address, since=now, until=now + s.ban_time, failures=len(window))
        while len(self._bans) >= s.max_bans:
            self._evict_earliest()
        self._add(ban)
        return ban

    def expire(self, now: float) -> list[Ban]:
        """Remove and return the bans whose time is up."""
        out: list[Ban] = []
        while True:
            self._clean_heap()
            if not self._heap or self._heap[0][0] > now:
                return out
            _, _, address = heapq.heappop(self._heap)
            out.append(self._bans.pop(address))

    def reconfigure(self, settings: PolicySettings) -> list[Ban]:
        """New settings (a site change): bans of sources now exempt, or all of them when
        blocking is off, are lifted and returned; over a smaller max_bans the earliest go."""
        self.settings = settings
        lifted = [
            b for b in self._bans.values() if not settings.block or settings.exempts(b.address)
        ]
        for ban in lifted:
            del self._bans[ban.address]
        while len(self._bans) > settings.max_bans:
            lifted.append(self._evict_earliest())
        for window in list(self._windows):
            if settings.exempts(window):
                del self._windows[window]
        return lifted

    # -- internals -----------------------------------------------------------------------------

    def _add(self, ban: Ban) -> None:
        self._bans[ban.address] = ban
        self._seq += 1
        heapq.heappush(self._heap, (ban.until, self._seq, ban.address))

    def _evict_earliest(self) -> Ban:
        self._clean_heap()
        _, _, address = heapq.heappop(self._heap)
        self.evicted += 1
        return self._bans.pop(address)

    def _clean_heap(self) -> None:
        """Drop heap entries of bans lifted otherwise (lazy deletion); keep the heap bounded."""
        heap = self._heap
        while heap and self._stale(heap[0]):
            heapq.heappop(heap)
        if len(heap) > 2 * len(self._bans) + 64:
            self._heap = [e for e in heap if not self._stale(e)]
            heapq.heapify(self._heap)

    def _stale(self, entry: tuple[float, int, IPAddress]) -> bool:
        ban = self._bans.get(entry[2])
        return ban is None or ban.until != entry[0]
