"""One backoff: doubling to a cap, jittered in [d/2, d] unless asked not to, reset after a
success."""

from __future__ import annotations

from supervisor.backoff import Backoff, backoff_delay


def test_exact_delays_double_to_the_cap_and_reset() -> None:
    """Without jitter: initial, doubling, capped; reset() starts over."""
    backoff = Backoff(initial=1.0, maximum=4.0, jitter=False)
    assert [backoff.next() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_jitter_stays_within_half_and_full_delay() -> None:
    """With jitter each delay is within [d/2, d] of the exact one."""
    low = Backoff(initial=1.0, maximum=8.0, rng=lambda: 0.0)
    high = Backoff(initial=1.0, maximum=8.0, rng=lambda: 1.0)
    assert [low.next() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [high.next() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff_delay(1000, initial=1.0, maximum=8.0, rng=lambda: 1.0) == 8.0
