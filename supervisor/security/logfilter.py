"""Asterisk's console lines about requests its ACL refused or res_pjsip rejected, counted and
summarised instead of relayed (LineScreen, before any log record is made); the other lines
rate-limited per kind and source, escaped and truncated (RelayLimiter).

For every request from a denied source Asterisk writes two lines (acl.c NOTICE "SIP ACL:
Rejecting '...'" and res_pjsip_acl WARNING "... did not pass ACL test"): a blocked scanner at
200 requests/s would put 400 lines/s into the pod's log, and relaying them cost the supervisor
more CPU than the attack itself (bench/reports/security.md). This filter, on the `asterisk`
logger's input, drops those lines, counts the refusals, and lets one summary line through per
`interval` seconds. The block itself was logged once, when the source was blocked.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger("supervisor.security")

REFUSED = "did not pass ACL test"  # one per refused request (res_pjsip_acl, endpoint ACLs)
REJECTING = "SIP ACL: Rejecting '"  # acl.c's companion line for the same request


class RefusalSummary(logging.Filter):
    def __init__(
        self,
        *,
        interval: float = 60.0,
        on_refused: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self._on_refused = on_refused
        self._clock = clock
        self._pending = 0
        self._since = clock()

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.take(record.getMessage())

    def take(self, message: str) -> bool:
        """Whether `message` is one of a refusal's two lines (then counted, not relayed)."""
        if REFUSED in message:
            self._on_refused()
            self._pending += 1
            self._maybe_summarise()
            return True
        return REJECTING in message

    def _maybe_summarise(self) -> None:
        now = self._clock()
        if now - self._since < self.interval:
            return
        log.info(
            "Asterisk refused %d SIP request(s) from blocked sources in the last %.0f s "
            "(its per-request lines are counted, not shown)",
            self._pending,
            now - self._since,
        )
        self._pending = 0
        self._since = now


#: res_pjsip's NOTICE for every request it rejects for what the sender did
#: (pjsip_distributor.c, log_failed_request): `... log_failed_request: Request 'REGISTER' from
#: '<sip:u@...>' failed for '[2001:db8::66]:5060' (callid: ...) - No matching endpoint found`.
FAILED_REQUEST = " log_failed_request: Request '"
#: Asterisk's prefix before the function name (date, level, thread, call id, file:line) fits
#: in this; the attacker's text comes after it.
PREFIX_CHARS = 160
#: The reasons res_pjsip gives (the text after the last ` - `), as metric label values; any
#: other is `other`.
FAILED_REASONS = {
    "No matching endpoint found": "no_matching_endpoint",
    "Failed to authenticate": "failed_to_authenticate",
}
#: Every label value of asterisk_supervisor_failed_request_lines_total.
FAILED_REASON_LABELS = (*FAILED_REASONS.values(), "other")


class FailedRequestSummary:
    """res_pjsip's per-request NOTICE about a failed request (an unknown account, a wrong
    password): each is also a security event, which the guard counts and acts on; relayed,
    they were one log line per guess and most of what the supervisor spent on a flood
    (profiled, bench/reports/attack.notes.md). Counted by reason instead (`on_failed`), and
    summarised in one line per `interval` while they continue."""

    def __init__(
        self,
        *,
        interval: float = 60.0,
        on_failed: Callable[[str], None] = lambda _reason: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._on_failed = on_failed
        self._clock = clock
        self._pending = 0
        self._since = clock()

    def take(self, message: str) -> bool:
        """Whether `message` is such a line (then counted, not relayed)."""
        if message.find(FAILED_REQUEST, 0, PREFIX_CHARS) < 0:
            return False
        why = message.rpartition(") - ")[2]
        reason = next((v for k, v in FAILED_REASONS.items() if why.startswith(k)), "other")
        self._on_failed(reason)
        self._pending += 1
        now = self._clock()
        if now - self._since >= self.interval:
            log.info(
                "Asterisk rejected %d SIP request(s) in the last %.0f s (unknown account, "
                "wrong password, ...): its per-request lines are counted "
                "(asterisk_supervisor_failed_request_lines_total), the security events "
                "report the same requests",
                self._pending,
                now - self._since,
            )
            self._pending = 0
            self._since = now
        return True


class LineScreen:
    """Asterisk's console lines, screened as text before any log record is made: a refusal's
    lines and res_pjsip's failed-request lines are counted and summarised, the others
    rate-limited (RelayLimiter); only what is left (escaped, cut) becomes a record of the
    `asterisk` logger. Making a record and running logging's filters cost ten times what these
    tests do, and under a flood these lines are nearly all of Asterisk's output (profiled)."""

    def __init__(
        self, refusals: RefusalSummary, failed: FailedRequestSummary, limiter: RelayLimiter
    ) -> None:
        self.refusals = refusals
        self.failed = failed
        self.limiter = limiter

    def __call__(self, line: str) -> str | None:
        """The text to log, or None (counted instead)."""
        if self.failed.take(line) or self.refusals.take(line):
            return None
        return self.limiter.take(line)


#: Asterisk's console line: `[date] LEVEL[thread]: where: message`; anything else continues
#: the line before (pjproject's packet dumps: the attacker's bytes, one line each).
_HEADER = re.compile(r"^\[[^\]]{1,40}\] ([A-Z]+)\[\d+\](?:\[[^\]]*\])?: (.*)$")
_ADDRESS = re.compile(r"[0-9A-Fa-f]{1,4}:[0-9A-Fa-f:.]{3,}|\d{1,3}(?:\.\d{1,3}){3}")
_NO_DIGITS = str.maketrans("", "", "0123456789")
KIND_CHARS = 48  # the start of the message after the prefix: where the line comes from
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
MAX_CHARS = 300  # a relayed line is cut here (the attacker chooses what follows)
MAX_CONTINUATION = 20  # lines relayed after one header line (a packet dump)
MAX_KEYS = 1024  # (kind, source) buckets; the least recently used is forgotten
PER_KEY = (20.0, 10.0 / 60.0)  # burst, then lines per second, per kind and source
OVERALL = (200.0, 50.0)  # burst, then lines per second, all kinds and sources together


def escape(text: str) -> str:
    """Control characters (terminal escapes, NUL, C1) as \\xNN; at most MAX_CHARS kept."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(text) > MAX_CHARS:
        return f"{text[:MAX_CHARS]}... ({len(text) - MAX_CHARS} more characters)"
    return text


def classify(message: str) -> tuple[str, str] | None:
    """A header line's (kind, source): level and where, digits and attacker-looking text
    dropped; the first IP address in the line (IPv6: its /64). None for a continuation line."""
    match = _HEADER.match(message)
    if match is None:
        return None
    level, rest = match.groups()
    source = ""
    # Lazily: the first candidate nearly always parses, and a flood's lines are long hex.
    for found in _ADDRESS.finditer(rest, 0, MAX_CHARS):
        candidate = found.group().strip(":.")
        # pjproject writes `2001:db8::66:51032` (address and port, no brackets).
        for text in (candidate, candidate.rpartition(":")[0]):
            address = _ip(text)
            if address is None:
                continue
            # An IPv6 source by its /64, as the ban policy counts it: a port pjproject glued
            # to the address (`::66:5060` parses too) or a rotating host stays one source.
            # By integer: making a network object costs ten times more (profiled under flood).
            source = f"{int(address) >> 64:x}::/64" if address.version == 6 else text
            break
        if source:
            break
    # Asterisk writes where a line comes from first (`res_pjsip_acl.c:158 apply_acl:`,
    # `pjproject: <?>: sip_endpoint.c Error ...`): its start, without numbers, is the kind.
    where = " ".join(rest[: 2 * KIND_CHARS].translate(_NO_DIGITS).split())[:KIND_CHARS]
    return f"{level} {where}", source


@functools.lru_cache(maxsize=4096)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Cached: a flood's lines name the same sources again and again.
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens, self.stamp = tokens, stamp

    def take(self, limit: tuple[float, float], now: float) -> bool:
        burst, rate = limit
        self.tokens = min(burst, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RelayLimiter(logging.Filter):
    """Asterisk's relayed console lines, rate-limited per kind and source (and overall),
    escaped and truncated; dropped lines counted (`on_dropped`) and summarised once per
    `interval`. Every buffer is bounded: MAX_KEYS buckets, a line cut at MAX_CHARS."""

    def __init__(
        self,
        *,
        interval: float = 60.0,
        on_dropped: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self._on_dropped = on_dropped
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._overall = _Bucket(OVERALL[0], clock())
        self._passing = True  # whether the last header line was relayed
        self._continued = 0
        self.dropped = 0
        self._reported = 0
        self._since = clock()

    def filter(self, record: logging.LogRecord) -> bool:
        relayed = self.take(record.getMessage())
        if relayed is None:
            return False
        record.msg, record.args = relayed, ()
        return True

    def take(self, message: str) -> str | None:
        """The line to relay (escaped, cut), or None when it is over its budget (counted)."""
        now = self._clock()
        # A continuation line (a packet dump) starts with anything but Asterisk's `[date]`:
        # it follows its header line's fate without the cost of classifying it.
        key = classify(message) if message.startswith("[") else None
        if key is None:
            self._continued += 1
            keep = self._passing and self._continued <= MAX_CONTINUATION
        else:
            self._continued = 0
            keep = self._passing = self._take(key, now)
        self._summarise(now)
        if not keep:
            self.dropped += 1
            self._on_dropped()
            return None
        return escape(message)

    def _take(self, key: tuple[str, str], now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(PER_KEY[0], now)
            if len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        # The overall budget is only spent by a line its own bucket lets through.
        return bucket.take(PER_KEY, now) and self._overall.take(OVERALL, now)

    def _summarise(self, now: float) -> None:
        if now - self._since < self.interval:
            return
        dropped = self.dropped - self._reported
        if dropped:
            log.warning(
                "%d Asterisk log line(s) not relayed in the last %.0f s: more than %.0f a "
                "minute of one kind from one source, or %.0f a second in all (counted in "
                "asterisk_supervisor_asterisk_log_lines_dropped_total)",
                dropped,
                now - self._since,
                PER_KEY[1] * 60,
                OVERALL[1],
            )
        self._reported = self.dropped
        self._since = now
