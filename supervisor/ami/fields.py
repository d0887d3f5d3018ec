"""AMI header values as the state machines read them: an event's own time, integers, Asterisk's
round-trip microseconds and `HH:MM:SS` durations; and the plain-integer histogram they feed."""

from __future__ import annotations

import bisect
from collections.abc import Mapping

Event = Mapping[str, str]


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


def integer(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def rtt(usec: str | None) -> float | None:
    """`RoundtripUsec` -> seconds; 0 or absent (not qualified) -> None."""
    value = integer(usec)
    return value / 1e6 if value is not None and value > 0 else None


def hms(value: str | None) -> float | None:
    """CoreShowChannel Duration `HH:MM:SS` -> seconds."""
    if not value:
        return None
    try:
        h, m, s = value.split(":")
        return int(h) * 3600 + int(m) * 60 + int(s)
    except ValueError:
        return None
