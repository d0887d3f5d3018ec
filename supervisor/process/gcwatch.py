"""How long Python's garbage collector holds the event loop: every collection timed, by generation.

A collection runs in whichever thread allocates when a generation's threshold is crossed, holding
the GIL throughout: the event loop does nothing meanwhile. A full collection (generation 2) scans
every tracked object, so under a flood of new sources (the security state grows) or with a large
site it is the longest pause the supervisor has; the heap trimmer forces one a minute when the
interpreter has not run one itself (process/malloc.py). Timed here so that an on-call engineer
can tell a collector pause from a slow handler in /healthz's latency, and the benchmarks can
attribute their maxima (bench/reports/attack.notes.md).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any, Final, NoReturn

from prometheus_client import CollectorRegistry, Histogram

#: Seconds: a young collection takes tens of microseconds, a full one of the start-up state
#: (frozen: runner.py) a few milliseconds, one after 10,000 bans tens of milliseconds.
PAUSE_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
GENERATIONS: Final = ("0", "1", "2")


class CollectionTimer:
    """A `gc.callbacks` entry that hands `observe(generation, seconds)` the length of each
    collection (the interpreter calls it at a collection's start and stop, in that thread)."""

    def __init__(
        self,
        observe: Callable[[int, float], None],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._observe = observe
        self._clock = clock
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self._clock()
        elif self._started is not None:
            self._observe(int(info["generation"]), self._clock() - self._started)
            self._started = None

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def uninstall(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


class PauseMetrics:
    """`asterisk_supervisor_gc_pause_seconds{generation}` (the label is one of three
    generations), fed by `timer`, and `asterisk_supervisor_heap_trim_seconds`, fed by the heap
    trimmer, on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pauses = Histogram(
            "asterisk_supervisor_gc_pause_seconds",
            "Python garbage collections by generation (2: full), and how long each held the "
            "event loop.",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self._children = [self.pauses.labels(generation=g) for g in GENERATIONS]
        self.timer = CollectionTimer(self.observe)
        self.trims = Histogram(
            "asterisk_supervisor_heap_trim_seconds",
            "The heap trimmer's malloc_trim passes (process/malloc.py), and how long each held "
            "the event loop.",
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )

    def observe(self, generation: int, seconds: float) -> None:
        if 0 <= generation < len(self._children):
            self._children[generation].observe(seconds)

    async def run(self) -> NoReturn:
        """Times collections for as long as the supervisor runs (the callback is the process's:
        taken out again when the task ends, so that parts built in tests do not pile up)."""
        self.timer.install()
        try:
            await asyncio.Future()
        finally:
            self.timer.uninstall()
        raise AssertionError("unreachable")  # the future is never done; cancelled at the end
