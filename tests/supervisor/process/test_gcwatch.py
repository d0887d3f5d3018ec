"""The collector's pauses: each collection timed by generation, into a bounded histogram."""

from __future__ import annotations

import asyncio
import gc

import pytest
from prometheus_client import CollectorRegistry

from supervisor.process.gcwatch import CollectionTimer, PauseMetrics


def test_the_timer_hands_each_collection_its_generation_and_length() -> None:
    """start/stop pairs by the injected clock; a stop without a start is ignored."""
    ticks = iter([10.0, 10.5, 20.0, 20.002])
    seen: list[tuple[int, float]] = []
    timer = CollectionTimer(lambda g, s: seen.append((g, s)), clock=lambda: next(ticks))
    timer("stop", {"generation": 1})  # installed mid-collection: no start seen
    timer("start", {"generation": 2})
    timer("stop", {"generation": 2})
    timer("start", {"generation": 0})
    timer("stop", {"generation": 0})
    assert seen == [(2, 0.5), (0, pytest.approx(0.002))]


def test_a_real_full_collection_is_counted_in_generation_2() -> None:
    """Installed, gc.collect() lands in the histogram's generation-2 series; uninstalled,
    nothing more does."""
    registry = CollectorRegistry()
    metrics = PauseMetrics(registry)

    def count(generation: str) -> float:
        value = registry.get_sample_value(
            "asterisk_supervisor_gc_pause_seconds_count", {"generation": generation}
        )
        assert value is not None
        return value

    metrics.timer.install()
    try:
        gc.collect()
        assert count("2") >= 1
    finally:
        metrics.timer.uninstall()
    before = count("2")
    gc.collect()
    assert count("2") == before
    assert metrics.timer not in gc.callbacks


async def test_the_task_takes_its_callback_out_when_it_ends() -> None:
    """Parts built and torn down (tests, lab harnesses) leave no callback behind."""
    metrics = PauseMetrics(CollectorRegistry())
    task = asyncio.create_task(metrics.run())
    await asyncio.sleep(0)
    assert metrics.timer in gc.callbacks
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert metrics.timer not in gc.callbacks
