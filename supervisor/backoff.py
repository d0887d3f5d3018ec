"""Exponential backoff: the one implementation behind every retry loop (AMI reconnect, Asterisk
restart after a crash, netlink resubscription)."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    attempt: int, *, initial: float, maximum: float, rng: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with jitter: a uniform draw in [d/2, d], d = min(max, initial * 2^n).
    The jitter keeps several supervisors (or a restarting Asterisk's clients) from reconnecting in
    lockstep; the lower half-bound keeps the delay growing."""
    delay = min(maximum, initial * 2.0 ** min(attempt, 30))
    return delay * (0.5 + 0.5 * rng())


class Backoff:
    """The delays of one retry loop: `initial`, doubling up to `maximum`; `reset()` after a
    success. Without jitter the delays are exact (a single process restarting its child has no
    herd to spread)."""

    def __init__(
        self,
        *,
        initial: float,
        maximum: float,
        jitter: bool = True,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng if jitter else (lambda: 1.0)

    def reset(self) -> None:
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt (and count this one)."""
        delay = backoff_delay(
            self.attempt, initial=self.initial, maximum=self.maximum, rng=self._rng
        )
        self.attempt += 1
        return delay
