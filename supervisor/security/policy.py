"""The ban decision, pure: failures per source in a sliding window, bans that expire, bounds.

A source is an IPv4 address, or the IPv6 network of `ipv6_prefix` bits around an address (by
default its /64: one host usually holds a whole /64 and can send from a new address in it for
every request, which would defeat per-address counting). A source is banned at its
`max_failures`-th failure within `window` seconds, for `ban_time` seconds. Addresses in `exempt`
(trunk hosts, identified devices, the allow-list, the pod's own addresses) are never banned, and
an IPv6 network that overlaps an exempt one is counted and banned per address instead.

Memory is bounded: at most `max_tracked` sources have failure windows (the one inactive longest
is forgotten first) and at most `max_bans` are banned (a new ban replaces the one that would
expire first: the oldest, so the freshest attackers stay blocked). Every operation is O(log n),
the exemption tests included: a site may exempt up to 100,000 identify networks, and a scanner's
every failed request asks whether its address is one of them. Times are wall-clock seconds, so
bans survive a restart.
"""

from __future__ import annotations

import bisect
import heapq
import ipaddress
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from supervisor.security.events import IPAddress, IPNetwork


class _Ranges:
    """Networks of one family as sorted, merged, disjoint integer ranges: membership and
    overlap in O(log n) by bisection."""

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        merged: list[list[int]] = []
        for first, last in sorted(
            (int(n.network_address), int(n.broadcast_address)) for n in networks
        ):
            if merged and first <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        self._starts = [first for first, _ in merged]
        self._ends = [last for _, last in merged]

    def overlaps(self, first: int, last: int) -> bool:
        # The last range starting at or before `last` is the only one that can reach `first`:
        # every earlier one ends before it starts.
        i = bisect.bisect_right(self._starts, last) - 1
        return i >= 0 and self._ends[i] >= first


@dataclass(frozen=True, kw_only=True)
class PolicySettings:
    block: bool = True
    max_failures: int = 5
    window: float = 600.0
    ban_time: float = 3600.0
    max_bans: int = 1000
    max_tracked: int = 10_000
    ipv6_prefix: int = 64
    exempt: tuple[IPNetwork, ...] = ()

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.max_bans < 1 or self.max_tracked < 1:
            raise ValueError("max_failures, max_bans and max_tracked must be at least 1")
        if self.window <= 0 or self.ban_time <= 0:
            raise ValueError("window and ban_time must be positive")
        if not 1 <= self.ipv6_prefix <= 128:
            raise ValueError("ipv6_prefix must be 1..128")

    @cached_property
    def _exempt_ranges(self) -> dict[int, _Ranges]:
        return {v: _Ranges(n for n in self.exempt if n.version == v) for v in (4, 6)}

    def exempts(self, address: IPAddress) -> bool:
        value = int(address)
        return self._exempt_ranges[address.version].overlaps(value, value)

    def overlaps_exempt(self, network: IPNetwork) -> bool:
        first, last = int(network.network_address), int(network.broadcast_address)
        return self._exempt_ranges[network.version].overlaps(first, last)

    def source(self, address: IPAddress) -> IPNetwork:
        """What failures of `address` count against: the address itself (IPv4, or IPv6 whose
        network would overlap an exempt one), else its IPv6 network of `ipv6_prefix` bits."""
        single = ipaddress.ip_network(address)
        if address.version == 4 or self.ipv6_prefix == 128:
            return single
        wide = single.supernet(new_prefix=self.ipv6_prefix)
        return single if self.overlaps_exempt(wide) else wide


@dataclass(frozen=True, kw_only=True)
class Ban:
    until: float
    source: IPNetwork
    since: float
    failures: int


class BanPolicy:
    def __init__(self, settings: PolicySettings, bans: Iterable[Ban] = ()) -> None:
        self.settings = settings
        self._windows: OrderedDict[IPNetwork, deque[float]] = OrderedDict()
        self._bans: dict[IPNetwork, Ban] = {}
        self._heap: list[tuple[float, int, IPNetwork]] = []  # (until, tiebreak, source)
        self._seq = 0
        self.evicted = 0  # bans replaced early because the list was full
        for ban in sorted(bans, key=lambda b: b.until):
            if not settings.overlaps_exempt(ban.source):
                self._add(ban)

    # -- queries -------------------------------------------------------------------------------

    @property
    def bans(self) -> tuple[Ban, ...]:
        """Current bans, in source order (the rendered ACL is stable)."""
        return tuple(sorted(self._bans.values(), key=lambda b: (b.source.version, b.source)))

    def banned(self, address: IPAddress) -> bool:
        return (
            self.settings.source(address) in self._bans
            or ipaddress.ip_network(address) in self._bans
        )

    def next_expiry(self) -> float | None:
        self._clean_heap()
        return self._heap[0][0] if self._heap else None

    def tracked(self) -> int:
        return len(self._windows)

    # -- changes -------------------------------------------------------------------------------

    def failure(self, address: IPAddress, now: float) -> Ban | None:
        """Record one failure from `address`; the new ban of its source if this one crosses
        the threshold, else None."""
        s = self.settings
        if s.exempts(address):
            return None
        source = s.source(address)
        if source in self._bans:
            return None
        window = self._windows.get(source)
        if window is None:
            window = self._windows[source] = deque(maxlen=s.max_failures)
            if len(self._windows) > s.max_tracked:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(source)
        window.append(now)
        if len(window) < s.max_failures or now - window[0] > s.window or not s.block:
            return None
        del self._windows[source]
        ban = Ban(source=source, since=now, until=now + s.ban_time, failures=len(window))
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
            _, _, source = heapq.heappop(self._heap)
            out.append(self._bans.pop(source))

    def reconfigure(self, settings: PolicySettings) -> list[Ban]:
        """New settings (a site change): bans of sources now exempt, or all of them when
        blocking is off, are lifted and returned; over a smaller max_bans the earliest go."""
        self.settings = settings
        lifted = [
            b
            for b in self._bans.values()
            if not settings.block or settings.overlaps_exempt(b.source)
        ]
        for ban in lifted:
            del self._bans[ban.source]
        while len(self._bans) > settings.max_bans:
            lifted.append(self._evict_earliest())
        # Windows start over: their keys may mean other sources now (prefix, exemptions).
        self._windows.clear()
        return lifted

    # -- internals -----------------------------------------------------------------------------

    def _add(self, ban: Ban) -> None:
        self._bans[ban.source] = ban
        self._seq += 1
        heapq.heappush(self._heap, (ban.until, self._seq, ban.source))

    def _evict_earliest(self) -> Ban:
        self._clean_heap()
        _, _, source = heapq.heappop(self._heap)
        self.evicted += 1
        return self._bans.pop(source)

    def _clean_heap(self) -> None:
        """Drop heap entries of bans lifted otherwise (lazy deletion); keep the heap bounded."""
        heap = self._heap
        while heap and self._stale(heap[0]):
            heapq.heappop(heap)
        if len(heap) > 2 * len(self._bans) + 64:
            self._heap = [e for e in heap if not self._stale(e)]
            heapq.heapify(self._heap)

    def _stale(self, entry: tuple[float, int, IPNetwork]) -> bool:
        ban = self._bans.get(entry[2])
        return ban is None or ban.until != entry[0]
