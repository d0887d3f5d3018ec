"""The ban decision, pure: failures per source in a sliding window, bans that expire, bounds,
proof of address, prefix escalation (docs/security.md gives the reasoning and the figures).

A source is an IPv4 address, or the IPv6 network of `ipv6_prefix` bits around an address (by
default its /64: one host usually holds a whole /64 and can send from a new address in it for
every request, which would defeat per-address counting). A source is banned at its
`max_failures`-th failure within `window` seconds, for `ban_time` seconds. Addresses in `exempt`
(trunk hosts, identified devices, the allow-list, the pod's own addresses) are never banned, and
an IPv6 network that overlaps an exempt one is counted and banned per address instead.

Proof of address: over UDP a source address proves nothing (anyone can forge it), so an
unproven failure never counts against an address a device has authenticated from (`vouch`, fed
by SuccessfulAuth), nor against a network that holds one; it is counted separately. A failure
over TCP/TLS (after the handshake) is proven and counts like any other.

Escalation: when failures come from several sources of one wider prefix (IPv6 /56 and /48,
IPv4 /24; `LEVELS`), the wider prefix is banned, so rotating through a /48 gains nothing. A
wider prefix that holds an exempt network or a vouched address is never banned.

Memory is bounded: at most `max_tracked` sources have failure windows (the one inactive longest
is forgotten first) and at most `max_bans` are banned (when full, a new ban replaces the oldest
plain ban; escalated bans go last), `MAX_VOUCHED` vouched addresses. Every operation is O(log n),
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
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Final

from supervisor.security.events import IPAddress, IPNetwork, Key, network_text, order


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


#: Escalation levels per family: (prefix length, failures within the wide window as a multiple
#: of max_failures). A level applies only when wider than the family's source unit. With the
#: defaults (5 failures, window 600 s, ban 3600 s) the /48 is banned at its 10th failure within
#: the wide window (max(window, ban_time)) from two or more narrower sources, in one ban: an
#: attacker rotating through a /48 gets 10 password tests an hour plus what Asterisk answers
#: while that one ban is applied (its rate times the time to ban). With the /48 at twice the
#: /56's count (as before), the /56 was banned first and the /48 waited for that apply to end:
#: twice the time to ban, the larger term (bench/reports/attack.notes.md). The /56 level
#: still bans what it can when its /48 holds a device. A /56 or /48 is one customer's
#: allocation; one that holds a device's address is never banned (vouched, or exempt).
LEVELS: Final[dict[int, tuple[tuple[int, int], ...]]] = {6: ((56, 2), (48, 2)), 4: ((24, 4),)}
#: A wide ban needs failures from at least this many different narrower sources: one fast
#: scanner's failures still in flight when its own ban lands never widen it.
MIN_CHILDREN: Final = 2
#: Addresses devices authenticated from, kept this long after their last success (a phone
#: re-registers every hour at most by default) and at most this many.
VOUCH_TIME: Final = 86_400.0
MAX_VOUCHED: Final = 100_000
#: Requests naming a real account that get a challenge and no successful answer: this many
#: from one source within CHALLENGE_WINDOW seconds count as one failure (a phone answers
#: every challenge at once; a flood of INVITE/OPTIONS without credentials never does).
CHALLENGE_BATCH: Final = 20
CHALLENGE_WINDOW: Final = 60.0


#: Networks kept by network_of; the cache starts over when full (a bound, not an LRU: it
#: holds what one flood's sources and their wider prefixes need many times over).
NETWORK_CACHE: Final = 8192
_networks: dict[Key, IPNetwork] = {}


def network_of(address: IPAddress, prefix: int | None = None) -> IPNetwork:
    """The network of `prefix` bits (default: all) around `address`. Cached by integers: a
    failure asks for its source's networks several times (unit, each level, the ban lookup),
    and making an ipaddress network object costs more than the rest of the policy (profiled
    under flood). The same object comes back, so its own cached attributes are reused too."""
    bits = address.max_prefixlen
    prefix = bits if prefix is None else prefix
    value = int(address) >> (bits - prefix) << (bits - prefix)
    key = (bits, value, prefix)
    network = _networks.get(key)
    if network is None:
        if len(_networks) >= NETWORK_CACHE:
            _networks.clear()
        if bits == 32:
            network = ipaddress.IPv4Network((value, prefix))
        else:
            network = ipaddress.IPv6Network((value, prefix))
        _networks[key] = network
    return network


def collapse(networks: Iterable[IPNetwork]) -> list[IPNetwork]:
    """The networks merged into the fewest prefixes, sorted (what
    `ipaddress.collapse_addresses` returns, for both families at once): covered networks
    dropped, sibling halves merged into their parent."""
    return [n for _, n in collapse_keyed(sorted((order(n), n) for n in networks))]


def collapse_keyed(keyed: Iterable[tuple[Key, IPNetwork]]) -> list[tuple[Key, IPNetwork]]:
    """collapse() of networks given with their order() keys, sorted by them, with theirs. By
    integers, in
    O(n), reusing the objects given where nothing merged: done for the whole ban list at every
    change (comparing or merging ipaddress objects dominated that, profiled at 10,000 bans)."""
    out: list[tuple[int, int, int, int, IPNetwork | None]] = []  # version, first, last, prefix
    for (version, first, prefix), network in keyed:
        bits = 32 if version == 4 else 128
        if out and out[-1][0] == version and first <= out[-1][2]:
            continue  # inside the one before: prefixes nest or are disjoint
        out.append((version, first, first | ((1 << (bits - prefix)) - 1), prefix, network))
        # Merge the two last while they are the halves of one prefix.
        while len(out) >= 2:
            v1, first1, _, prefix1, _ = out[-2]
            v2, first2, last2, prefix2, _ = out[-1]
            size = 1 << (bits - prefix1)
            if not (
                v1 == v2
                and prefix1 == prefix2
                and prefix1 > 0
                and first1 % (2 * size) == 0
                and first2 == first1 + size
            ):
                break
            del out[-2:]
            out.append((v1, first1, last2, prefix1 - 1, None))
    return [
        (
            (version, first, prefix),
            network
            if network is not None
            else (
                ipaddress.IPv4Network((first, prefix))
                if version == 4
                else ipaddress.IPv6Network((first, prefix))
            ),
        )
        for version, first, _, prefix, network in out
    ]


class Collapsed:
    """collapse() kept up to date as networks are added, each in O(log n) comparisons plus a
    list insert (a C memmove), with each network's text: under a flood the ban list grows by
    a few bans per apply, and merging all 10,000 again at every apply was most of what the
    supervisor spent (profiled). Removing is not supported: build a new one."""

    def __init__(self) -> None:
        self.keys: list[Key] = []  # sorted; disjoint networks
        self.networks: list[IPNetwork] = []
        self.texts: list[str] = []

    def add(self, key: Key, network: IPNetwork | None = None) -> None:
        """Add the network with this order() key (made from the key when not given)."""
        keys = self.keys
        while True:
            version, first, prefix = key
            bits = 32 if version == 4 else 128
            size = 1 << (bits - prefix)
            last = first + size - 1
            i = bisect.bisect_right(keys, key)
            if i and keys[i - 1][0] == version and _last(keys[i - 1]) >= last:
                return  # inside the one before (the only one that can hold it)
            j = i
            while j < len(keys) and keys[j][0] == version and keys[j][1] <= last:
                j += 1  # inside the new one
            del keys[i:j], self.networks[i:j], self.texts[i:j]
            # Its sibling half, if there, merges with it into their parent (and so on up).
            if prefix > 0:
                if first % (2 * size) == 0:
                    if i < len(keys) and keys[i] == (version, first + size, prefix):
                        del keys[i], self.networks[i], self.texts[i]
                        key, network = (version, first, prefix - 1), None
                        continue
                elif i and keys[i - 1] == (version, first - size, prefix):
                    del keys[i - 1], self.networks[i - 1], self.texts[i - 1]
                    key, network = (version, first - size, prefix - 1), None
                    continue
            if network is None:
                network = (
                    ipaddress.IPv4Network((first, prefix))
                    if version == 4
                    else ipaddress.IPv6Network((first, prefix))
                )
            keys.insert(i, key)
            self.networks.insert(i, network)
            self.texts.insert(i, network_text(network, key))
            return


def _last(key: Key) -> int:
    version, first, prefix = key
    return first | ((1 << ((32 if version == 4 else 128) - prefix)) - 1)


@dataclass(frozen=True, kw_only=True)
class PolicySettings:
    block: bool = True
    max_failures: int = 5
    window: float = 600.0
    ban_time: float = 3600.0
    max_bans: int = 100_000
    max_tracked: int = 100_000
    ipv6_prefix: int = 64
    escalate: bool = True
    exempt: tuple[IPNetwork, ...] = ()
    _exempt_ranges: dict[int, _Ranges] = field(init=False, repr=False, compare=False)

    def _check(self) -> None:
        if self.max_failures < 1 or self.max_bans < 1 or self.max_tracked < 1:
            raise ValueError("max_failures, max_bans and max_tracked must be at least 1")
        if self.window <= 0 or self.ban_time <= 0:
            raise ValueError("window and ban_time must be positive")
        if not 1 <= self.ipv6_prefix <= 128:
            raise ValueError("ipv6_prefix must be 1..128")

    def __post_init__(self) -> None:
        self._check()
        # Built once here, not as a cached_property: on Python 3.11 every read of one takes a
        # lock, and this is read for every event of a flood (profiled).
        ranges = {v: _Ranges(n for n in self.exempt if n.version == v) for v in (4, 6)}
        object.__setattr__(self, "_exempt_ranges", ranges)

    def exempts(self, address: IPAddress) -> bool:
        value = int(address)
        return self._exempt_ranges[address.version].overlaps(value, value)

    def overlaps_exempt_key(self, key: Key) -> bool:
        """overlaps_exempt() of the network with this order() key (no object needed)."""
        version, first, prefix = key
        last = first | ((1 << ((32 if version == 4 else 128) - prefix)) - 1)
        return self._exempt_ranges[version].overlaps(first, last)

    def overlaps_exempt(self, network: IPNetwork) -> bool:
        first, last = int(network.network_address), int(network.broadcast_address)
        return self._exempt_ranges[network.version].overlaps(first, last)

    def unit(self, version: int) -> int:
        """The prefix length failures count against by default (IPv4: the address)."""
        return 32 if version == 4 else self.ipv6_prefix

    def levels(self, version: int) -> tuple[tuple[int, int], ...]:
        """The escalation levels of a family, narrowest first, wider than its unit."""
        if not self.escalate:
            return ()
        return tuple(level for level in LEVELS[version] if level[0] < self.unit(version))

    @property
    def wide_window(self) -> float:
        return max(self.window, self.ban_time)


@dataclass(frozen=True, kw_only=True, slots=True)
class Ban:
    until: float
    source: IPNetwork
    since: float
    failures: int
    escalated: bool = False  # a wider prefix banned for failures of several sources in it
    #: order(source), computed once: the whole list is sorted and merged at every change.
    key: Key = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", order(self.source))


@dataclass(slots=True)
class _Wide:
    """Failures of one wider prefix: their times and the first narrower source seen (its
    order() key)."""

    times: deque[float]
    first_child: Key
    children: int = 1


class _Vouched:
    """Vouched addresses, and per network that may be asked about (a unit network, an
    escalation level) how many of them it holds: O(1) lookups, O(levels) updates. Networks
    by their order() keys: integers cost the garbage collector nothing, network objects
    several tracked objects each (at 10,000 sources its full collections stalled the loop)."""

    def __init__(self, settings: PolicySettings) -> None:
        self.seen: OrderedDict[IPAddress, float] = OrderedDict()
        self.nets: dict[Key, int] = {}
        self._prefixes = {
            v: sorted({settings.unit(v), *(p for p, _ in LEVELS[v])} - {32 if v == 4 else 128})
            for v in (4, 6)
        }

    def covers(self, network: IPNetwork) -> bool:
        if network.prefixlen == network.max_prefixlen:
            return network.network_address in self.seen
        return self.nets.get(order(network), 0) > 0

    def covers_key(self, key: Key) -> bool:
        """covers() of a network shorter than an address, by its order() key."""
        return self.nets.get(key, 0) > 0

    def add(self, address: IPAddress, now: float) -> None:
        if address in self.seen:
            self.seen.move_to_end(address)
        else:
            self._count(address, +1)
        self.seen[address] = now
        while len(self.seen) > MAX_VOUCHED:
            self._drop()

    def expire(self, now: float) -> None:
        while self.seen and next(iter(self.seen.values())) < now - VOUCH_TIME:
            self._drop()

    def rebuilt(self, settings: PolicySettings) -> _Vouched:
        """The same addresses for new settings (their networks may differ)."""
        other = _Vouched(settings)
        for address, when in self.seen.items():
            other.add(address, when)
        return other

    def _drop(self) -> None:
        address, _ = self.seen.popitem(last=False)
        self._count(address, -1)

    def _count(self, address: IPAddress, step: int) -> None:
        bits, value = address.max_prefixlen, int(address)
        for prefix in self._prefixes[address.version]:
            key = (address.version, value >> (bits - prefix) << (bits - prefix), prefix)
            left = self.nets.get(key, 0) + step
            if left > 0:
                self.nets[key] = left
            else:
                self.nets.pop(key, None)


class BanPolicy:
    def __init__(self, settings: PolicySettings, bans: Iterable[Ban] = ()) -> None:
        self.settings = settings
        self._windows: OrderedDict[IPNetwork, deque[float]] = OrderedDict()
        # By order() keys, not network objects: one entry per level per source of a flood (see
        # _Vouched), and a network object is made only for a ban.
        self._wide: OrderedDict[Key, _Wide] = OrderedDict()
        self._challenges: OrderedDict[IPNetwork, deque[float]] = OrderedDict()
        self._vouched = _Vouched(settings)
        self._bans: dict[IPNetwork, Ban] = {}
        self._heap: list[tuple[float, int, IPNetwork]] = []  # (until, tiebreak, source)
        # Eviction order: plain bans before escalated ones, the oldest first.
        self._evict_heap: list[tuple[bool, float, int, IPNetwork]] = []
        self._seq = 0
        self.evicted = 0  # bans replaced early because the list was full
        self.unproven = 0  # failures not counted: unproven, against a vouched address
        for ban in sorted(bans, key=lambda b: b.until):
            if not settings.overlaps_exempt(ban.source):
                self._add(ban)

    # -- queries -------------------------------------------------------------------------------

    @property
    def bans(self) -> tuple[Ban, ...]:
        """Current bans, in source order (the rendered ACL is stable)."""
        return tuple(sorted(self._bans.values(), key=attrgetter("key")))

    def __len__(self) -> int:
        return len(self._bans)

    def banned(self, address: IPAddress) -> bool:
        return self._covering(network_of(address)) is not None

    def vouched(self, address: IPAddress) -> bool:
        return address in self._vouched.seen

    def next_expiry(self) -> float | None:
        self._clean_heap()
        return self._heap[0][0] if self._heap else None

    def tracked(self) -> int:
        return len(self._windows) + len(self._wide)

    def source(self, address: IPAddress) -> IPNetwork:
        """What failures of `address` count against: its unit network (IPv6 /64), or the
        address alone when that network holds an exempt network or a vouched address."""
        single = network_of(address)
        unit = self.settings.unit(address.version)
        if unit == single.max_prefixlen:
            return single
        wide = network_of(address, unit)
        if self.settings.overlaps_exempt(wide) or self._vouched.covers(wide):
            return single
        return wide

    # -- changes -------------------------------------------------------------------------------

    def vouch(self, address: IPAddress, now: float) -> None:
        """A device authenticated from `address`: it received our challenge there (Asterisk's
        nonce is bound to the source address), so unproven failures never ban it, and its
        unanswered challenges start over."""
        self._vouched.expire(now)
        self._vouched.add(address, now)
        self._challenges.pop(self.source(address), None)

    def shields(self, address: IPAddress, proven: bool) -> bool:
        """Whether a failure from `address` is unproven and the address (or its unit network)
        is vouched for: then it is counted separately and never bans."""
        return not proven and self._vouched.covers(network_of(address))

    def challenge(self, address: IPAddress, now: float) -> bool:
        """A challenge sent for a real account's request from `address`; True when this makes
        CHALLENGE_BATCH unanswered ones within CHALLENGE_WINDOW (then count one failure)."""
        if self.settings.exempts(address):
            return False
        source = self.source(address)
        window = self._challenges.get(source)
        if window is None:
            window = self._challenges[source] = deque(maxlen=CHALLENGE_BATCH)
            if len(self._challenges) > self.settings.max_tracked:
                self._challenges.popitem(last=False)
        else:
            self._challenges.move_to_end(source)
        window.append(now)
        if len(window) < CHALLENGE_BATCH or now - window[0] > CHALLENGE_WINDOW:
            return False
        window.clear()
        return True

    def failure(self, address: IPAddress, now: float, *, proven: bool = True) -> Ban | None:
        """Record one failure from `address`; the new ban that covers it if this failure
        crosses a threshold (its source's, or a wider prefix's), else None."""
        s = self.settings
        if s.exempts(address):
            return None
        if self.shields(address, proven):
            self.unproven += 1
            return None
        source = self.source(address)
        if self._covering(source) is not None:
            return None
        ban = self._count_source(source, now)
        wide = self._count_wide(source, now)
        return wide or ban

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
        blocking is off, are lifted and returned; over a smaller max_bans the oldest go."""
        self.settings = settings
        lifted = [
            b
            for b in self._bans.values()
            if not settings.block or settings.overlaps_exempt(b.source)
        ]
        for ban in lifted:
            del self._bans[ban.source]
        while len(self._bans) > settings.max_bans:
            lifted.append(self._evict())
        # Windows start over: their keys may mean other sources now (prefix, exemptions).
        self._windows.clear()
        self._wide.clear()
        self._challenges.clear()
        self._vouched = self._vouched.rebuilt(settings)
        return lifted

    # -- internals -----------------------------------------------------------------------------

    def _count_source(self, source: IPNetwork, now: float) -> Ban | None:
        s = self.settings
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
        self._insert(ban)
        return ban

    def _count_wide(self, source: IPNetwork, now: float) -> Ban | None:
        """Count the failure against each wider prefix of its source; ban the widest that
        crosses its threshold (and lift the narrower bans it covers)."""
        s = self.settings
        found: Ban | None = None
        child = order(source)
        version, first, _ = child
        bits = source.max_prefixlen
        for prefix, multiple in s.levels(version):
            if prefix >= source.prefixlen:
                continue
            wide = (version, first >> (bits - prefix) << (bits - prefix), prefix)
            if s.overlaps_exempt_key(wide) or self._vouched.covers_key(wide):
                break  # a wider one holds it too
            threshold = multiple * s.max_failures
            entry = self._wide.get(wide)
            if entry is None:
                entry = self._wide[wide] = _Wide(deque(maxlen=threshold), child)
                if len(self._wide) > s.max_tracked:
                    self._wide.popitem(last=False)
            else:
                self._wide.move_to_end(wide)
                if entry.children < MIN_CHILDREN and child != entry.first_child:
                    entry.children += 1
            entry.times.append(now)
            crossed = (
                len(entry.times) >= threshold
                and now - entry.times[0] <= s.wide_window
                and entry.children >= MIN_CHILDREN
            )
            if not crossed or not s.block:
                continue
            del self._wide[wide]
            found = Ban(
                source=network_of(source.network_address, prefix),
                since=now,
                until=now + s.ban_time,
                failures=len(entry.times),
                escalated=True,
            )
        if found is not None:
            # Narrower bans inside it stay until they expire (lifting them would cost a scan):
            # the rendered ACL collapses them into the wide one (SecurityGuard.blocked).
            self._insert(found)
        return found

    def _covering(self, network: IPNetwork) -> Ban | None:
        """The ban in force over `network`: its own, its unit's or a wider level's."""
        ban = self._bans.get(network)
        if ban is not None:
            return ban
        s = self.settings
        prefixes = [s.unit(network.version)] + [p for p, _ in s.levels(network.version)]
        for prefix in prefixes:
            if prefix < network.prefixlen:
                ban = self._bans.get(network_of(network.network_address, prefix))
                if ban is not None:
                    return ban
        return None

    def _insert(self, ban: Ban) -> None:
        while len(self._bans) >= self.settings.max_bans:
            self._evict()
        self._add(ban)

    def _add(self, ban: Ban) -> None:
        self._bans[ban.source] = ban
        self._seq += 1
        heapq.heappush(self._heap, (ban.until, self._seq, ban.source))
        heapq.heappush(self._evict_heap, (ban.escalated, ban.since, self._seq, ban.source))

    def _evict(self) -> Ban:
        heap = self._evict_heap
        while True:
            escalated, since, _, source = heapq.heappop(heap)
            ban = self._bans.get(source)
            if ban is not None and ban.since == since and ban.escalated == escalated:
                break
        self.evicted += 1
        self._clean_heap()
        if len(heap) > 2 * len(self._bans) + 64:
            self._evict_heap = [
                e
                for e in heap
                if (b := self._bans.get(e[3])) is not None and (b.escalated, b.since) == e[:2]
            ]
            heapq.heapify(self._evict_heap)
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
