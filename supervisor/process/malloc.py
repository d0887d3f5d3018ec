"""PID 1 duty: keep the C heap from growing for ever under a steady load.

Measured in the long soak (bench/reports/soak-long.md, soak-long.notes.md): RSS grew after every
bounded structure was full while the Python objects' memory stayed flat. Three causes in glibc's
allocator and one in Python's collector, one remedy each, all applied here:

- **Large temporary blocks in the heap.** glibc serves a request of 128 KiB or more with its own
  mmap, returned to the kernel on free() - until the first such block is freed: from then on its
  *dynamic* threshold rises to that block's size (up to 32 MiB), and blocks of that size come
  from the heap instead. The supervisor makes such blocks all the time (each `/metrics` body, a
  re-sync's list, a rendered config, the tables of the bounded sets of ended calls as they turn
  over); in the heap the holes they leave rarely fit the next one. `pin_large_blocks_to_mmap`
  fixes the threshold at glibc's own default, which turns the dynamic one off.
- **One heap per worker thread.** Every `asyncio.to_thread` worker (the call record's fold once
  a second, config loads and renders, file writes) gets its own glibc arena on its first
  malloc, up to 8 per core; each is a heap of its own whose free space the others cannot reuse,
  and the record store's SQLite connections fragment them all. `one_arena` sets M_ARENA_MAX to
  1: every thread allocates from the main heap (the GIL serialises nearly all of it anyway).
- **Free pages inside the heap.** glibc gives memory back to the kernel only from the top of a
  heap; a free region below a live block stays resident. `trim_heap` (malloc_trim(0)) releases
  the free pages anywhere in the heap, and `HeapTrimmer` calls it at a steady interval.

- **Garbage cycles between full collections.** `HeapTrimmer` also sees that a full garbage
  collection has run before each trim (see its docstring): Python's own, rarely reached with
  many long-lived objects, let the supervisor's live Python memory rise between them.
- **pymalloc never gives a freed pool back.** Python's own allocator serves objects of up to
  512 bytes from 16 KiB pools in 1 MiB arenas, and returns memory to the kernel only when a
  whole arena is empty; a pool once touched stays resident for the arena's life. Under a steady
  load the objects' memory stayed flat while the arenas' resident pages kept rising (+39 to +64
  KB/min in every 8-minute window of the long soak, never levelling). The image therefore runs the
  supervisor with `PYTHONMALLOC=malloc` (`RUN_ENVIRONMENT`; the lab's supervisor runs get the
  same): every object comes from glibc's heap, whose free pages `trim_heap` gives back, and the
  long soak's RSS levelled off (bench/reports/soak-long.md, soak-long.notes.md). The interpreter
  reads the variable only at start-up, so it is the image's to set; `python_allocator` says
  which one runs.

Not glibc (musl, another allocator): nothing to do, and each function says so by returning False.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Final, NoReturn, Protocol

log = logging.getLogger(__name__)

#: The environment the supervisor is run with (image/Dockerfile's ENV, lab/supervisor.py):
#: Python's objects from glibc's malloc instead of pymalloc's arenas (see the module docstring).
RUN_ENVIRONMENT: Final = {"PYTHONMALLOC": "malloc"}

#: mallopt(3) parameter: the size from which a request is served by its own mmap.
M_MMAP_THRESHOLD = -3
#: mallopt(3) parameter: how many arenas (heaps) glibc may create for the process's threads.
M_ARENA_MAX = -8
#: glibc's default threshold (DEFAULT_MMAP_THRESHOLD_MIN); setting it turns the dynamic one off.
MMAP_THRESHOLD_BYTES = 128 * 1024
#: How often HeapTrimmer collects garbage cycles and gives the heap's free pages back: a full
#: collection and one malloc_trim cost milliseconds each.
TRIM_EVERY_S = 60.0
#: After a new site went live, how long before the pass that frees what the old one held (the
#: apply's tail - keeping the last good config - finishes first).
AFTER_CHANGE_S = 2.0
#: The least time between two passes, however often the site changes (a ConfigMap flapping
#: every second would otherwise buy a full collection a second).
MIN_GAP_S = 10.0


class AppliedSite(Protocol):
    """The trimmer's view of an applied config: the hash of the site it came from (a re-render
    of the same site, a ban batch, keeps it)."""

    @property
    def hash(self) -> str: ...


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (musl's mallopt exists but does nothing), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc only
        log.info("not glibc: the allocator's settings are left as they are")
        return None
    return libc


def python_allocator(environ: Mapping[str, str] = os.environ) -> str:
    """Which allocator serves Python's objects in this interpreter (read at its start-up)."""
    name = environ.get("PYTHONMALLOC", "")
    if name.startswith("malloc"):
        return "glibc malloc (PYTHONMALLOC=malloc): freed memory goes back with each trim"
    return (
        f"pymalloc (PYTHONMALLOC={name or 'not set'}): freed pools stay resident; the image "
        "sets PYTHONMALLOC=malloc"
    )


def _mallopt(param: int, value: int) -> bool:
    libc = _glibc()
    if libc is None:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(param, value) == 1)


def pin_large_blocks_to_mmap(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (no dynamic rise); False where there is no glibc mallopt."""
    return _mallopt(M_MMAP_THRESHOLD, threshold)


def one_arena() -> bool:
    """Every thread allocates from the main heap (before any thread starts: arenas that exist
    stay); False where there is no glibc mallopt."""
    return _mallopt(M_ARENA_MAX, 1)


def trim_heap() -> bool:
    """Give the free pages of every heap back to the kernel (malloc_trim(0)); True if any
    were released, False if none were or there is no glibc."""
    libc = _glibc()
    if libc is None:
        return False
    trim = libc.malloc_trim
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return bool(trim(0) == 1)


def collect_garbage() -> int:
    """A full collection of reference cycles (all generations); how many objects it freed."""
    return gc.collect()


def count_full_collections() -> int:
    """How many full collections (generation 2) the interpreter has run, forced ones included."""
    return int(gc.get_stats()[2]["collections"])


@dataclass
class HeapTrimmer:
    """Every `interval_s` (by the loop's clock) for as long as the supervisor runs: `collect`
    the garbage cycles unless the interpreter has run a full collection of its own since the
    last pass, then `trim` the heap; counts the passes, the collections it ran and the passes
    that released memory, and hands each trim's duration to `observe_trim`.

    Why collect: objects in reference cycles (netlink messages, exceptions with their frames,
    parsed configs) are freed only by a collection of the generation they reached, and the oldest
    is collected only once the objects that survived into it since its last collection are a
    quarter of those it held then. With ~86,000 long-lived tracked objects that was one full
    collection in 6 minutes under the soak's load, and until then the garbage keeps its memory:
    pymalloc's allocated bytes rose +72 KiB/min after warm-up without this, +11 with it
    (bench/reports/memory.md). Collected here, it is freed before the trim gives pages back.

    Why not when the interpreter has run one: a full collection holds the event loop for as
    long as it scans every tracked object (tens of milliseconds with 10,000 bans; gcwatch.py
    times them). While the state grows (a flood of new sources) the interpreter runs them
    itself every few seconds; one more from here would add a pause and free nothing. Either
    way no garbage cycle outlives two intervals.

    Why also after a site change (`on_config`, subscribed to the live config): loading,
    checking and rendering a site makes the most garbage the supervisor makes, and the site it
    replaces is freed with it. Left for the next timed pass, all of it keeps its pools for up to
    a minute while the calls' allocations take fresh ones, and the heap's high-water mark rises
    with every change (the soak swaps the site every 30 s; bench/reports/memory.notes.md)."""

    trim: Callable[[], bool] = trim_heap
    interval_s: float = TRIM_EVERY_S
    collect: Callable[[], int] = collect_garbage
    full_collections: Callable[[], int] = count_full_collections
    observe_trim: Callable[[float], None] = lambda _seconds: None
    clock: Callable[[], float] = time.perf_counter
    after_change_s: float = AFTER_CHANGE_S
    min_gap_s: float = MIN_GAP_S
    trims: int = 0
    released: int = 0
    collected: int = 0
    collections: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _site: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {self.interval_s}")

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: a pass soon if it came from another site than the last one."""
        if self._site is not None and config.hash != self._site:
            self._changed.set()
        self._site = config.hash

    def pass_once(self, seen: int, *, force: bool = False) -> int:
        """One pass; `seen`: the full collections counted after the previous pass; `force`:
        collect even if the interpreter has run one since. Returns the count after this one."""
        self.trims += 1
        if force or self.full_collections() == seen:
            self.collections += 1
            self.collected += self.collect()
        start = self.clock()
        if self.trim():
            self.released += 1
        self.observe_trim(self.clock() - start)
        return self.full_collections()

    async def run(self) -> NoReturn:
        loop = asyncio.get_running_loop()
        seen = self.full_collections()
        last = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._changed.wait()
            changed = self._changed.is_set()
            if changed:
                await asyncio.sleep(max(self.after_change_s, last + self.min_gap_s - loop.time()))
                self._changed.clear()
            seen = self.pass_once(seen, force=changed)
            last = loop.time()
