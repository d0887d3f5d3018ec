"""glibc's allocator as the supervisor sets it: the mmap threshold stays fixed once pinned, every
thread allocates from the main heap, free pages inside the heap go back to the kernel, and the
trimmer does that at its interval (the three causes of the long soak's RSS slope)."""

from __future__ import annotations

import asyncio
import gc
import platform
import subprocess
import sys
import textwrap
import weakref

import pytest

from supervisor.process.malloc import (
    RUN_ENVIRONMENT,
    HeapTrimmer,
    collect_garbage,
    python_allocator,
)

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")

# In a fresh interpreter (the allocator's state is per process): free a 4 MiB block, which
# raises glibc's dynamic threshold to 4 MiB, then keep 16 blocks of 256 KiB and print how much
# of them glibc mmapped (mallinfo2's hblkhd) and how much the heap grew (arena).
THRESHOLD_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from supervisor.process.malloc import pin_large_blocks_to_mmap
    if sys.argv[1] == "on":
        assert pin_large_blocks_to_mmap()
    libc = ctypes.CDLL(None)
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    libc.mallinfo2.restype = Info
    big = bytearray(4 << 20)
    del big
    before = libc.mallinfo2()
    kept = [bytearray(256 << 10) for _ in range(16)]
    after = libc.mallinfo2()
    print(after.hblkhd - before.hblkhd, after.arena - before.arena)
    """
)

# A worker thread's malloc: print 1 if the block lies in the main heap ([heap], brk), 0 if in a
# heap of the thread's own (an mmapped arena).
ARENA_PROBE = textwrap.dedent(
    """
    import ctypes, sys, threading
    from supervisor.process.malloc import one_arena
    if sys.argv[1] == "on":
        assert one_arena()
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    got = []
    worker = threading.Thread(target=lambda: got.append(libc.malloc(1000)))
    worker.start()
    worker.join()
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            print(int(low <= got[0] < high))
    """
)

# 400 pairs of 64 KiB blocks (below the mmap threshold: from the heap, one after the other; no
# free chunk that size to reuse); the first of each pair is freed, the second stays, so the freed
# ones are holes below the heap's top: print the RSS (kB) after they are freed and after
# `trim_heap` (or nothing) ran, and whether it released memory.
TRIM_PROBE = textwrap.dedent(
    """
    import ctypes, re, sys
    from supervisor.process.malloc import trim_heap
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
    def rss():
        return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
    holes, kept = [], []
    for _ in range(400):
        block = libc.malloc(64 << 10)
        libc.memset(block, 1, 64 << 10)
        holes.append(block)
        block = libc.malloc(64 << 10)
        libc.memset(block, 1, 64 << 10)
        kept.append(block)
    for block in holes:
        libc.free(block)
    before = rss()
    released = trim_heap() if sys.argv[1] == "on" else False
    print(before, rss(), int(released))
    """
)


def probe(script: str, mode: str) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=60, check=True
    )
    return [int(x) for x in done.stdout.split()]


@glibc_only
def test_large_blocks_keep_their_own_mmap_after_a_larger_one_was_freed() -> None:
    """Pinned: 16 x 256 KiB after a freed 4 MiB block are all mmapped and the heap does not
    grow; unpinned (glibc's dynamic threshold), the same blocks land in the heap."""
    mapped, heap = probe(THRESHOLD_PROBE, "on")
    assert mapped >= 16 * (256 << 10)
    assert heap < 256 << 10
    mapped, heap = probe(THRESHOLD_PROBE, "off")
    assert mapped < 256 << 10
    assert heap >= 8 * (256 << 10)  # (the heap's own free space took some)


@glibc_only
def test_a_worker_thread_allocates_from_the_main_heap_with_one_arena() -> None:
    """With one arena a to_thread-style worker's block is in the main heap; without, glibc gives
    the thread a heap of its own (which the long soak saw grow in every worker)."""
    assert probe(ARENA_PROBE, "on") == [1]
    assert probe(ARENA_PROBE, "off") == [0]


@glibc_only
def test_trim_gives_the_free_pages_below_the_heap_top_back() -> None:
    """25 MiB freed in 64 KiB holes below live blocks stay resident until trim_heap, which
    returns at least 20 MiB of them to the kernel and says it released memory."""
    before, after, released = probe(TRIM_PROBE, "off")
    assert before - after < 1024
    before, after, released = probe(TRIM_PROBE, "on")
    assert before - after > 20 * 1024
    assert released == 1


@pytest.mark.looptime
async def test_the_trimmer_trims_at_each_interval_by_the_loop_clock() -> None:
    """The trimmer calls trim first one interval after it starts, then once per interval, and
    counts the calls that released memory apart."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    moments: list[float] = []
    answers = iter([True, False, True])

    order: list[str] = []

    def collect() -> int:
        order.append("collect")
        return 5

    def trim() -> bool:
        order.append("trim")
        moments.append(loop.time() - start)
        return next(answers)

    trimmer = HeapTrimmer(trim=trim, interval_s=60.0, collect=collect, full_collections=lambda: 7)
    task = asyncio.create_task(trimmer.run())
    await asyncio.sleep(200.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert moments == [60.0, 120.0, 180.0]
    assert order == ["collect", "trim"] * 3  # garbage freed first, then its pages given back
    assert (trimmer.trims, trimmer.released, trimmer.collected) == (3, 2, 15)


def test_the_trimmer_collects_only_when_the_interpreter_ran_no_full_collection_since() -> None:
    """A pass after the interpreter's own full collection trims without a second one (a pause
    that frees nothing); the next pass with none in between collects again."""
    count = [10]
    order: list[str] = []

    def collect() -> int:
        order.append("collect")
        count[0] += 1  # a forced full collection is counted by the interpreter too
        return 1

    def trim() -> bool:
        order.append("trim")
        return False

    trimmer = HeapTrimmer(trim=trim, collect=collect, full_collections=lambda: count[0])
    seen = trimmer.pass_once(10)  # none since: collect
    assert (order, seen) == (["collect", "trim"], 11)
    count[0] += 1  # the interpreter's own, during a flood
    order.clear()
    seen = trimmer.pass_once(seen)
    assert (order, seen) == (["trim"], 12)
    order.clear()
    seen = trimmer.pass_once(seen)
    assert (order, seen) == (["collect", "trim"], 13)
    assert (trimmer.trims, trimmer.collections) == (3, 2)


def test_the_trimmer_hands_each_trims_duration_to_its_observer() -> None:
    """The trim's own duration, by the injected clock, not the collection's."""
    ticks = iter([1.0, 1.25])
    seen: list[float] = []
    trimmer = HeapTrimmer(
        trim=lambda: True,
        collect=lambda: 0,
        full_collections=lambda: 0,
        observe_trim=seen.append,
        clock=lambda: next(ticks),
    )
    trimmer.pass_once(0)
    assert seen == [0.25]


def test_collect_garbage_frees_reference_cycles_of_every_generation() -> None:
    """A cycle that survived into the oldest generation is freed by one pass, not at the
    interpreter's next full collection."""

    class Node:
        pass

    gc.collect()
    gc.disable()  # the cycle must still be there when collect_garbage runs
    try:
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        ref = weakref.ref(node)
        del node
        assert ref() is not None
        assert collect_garbage() >= 1
        assert ref() is None
    finally:
        gc.enable()


def test_the_trimmer_refuses_an_interval_that_is_not_positive() -> None:
    """A zero interval would trim in a busy loop: refused when the trimmer is made."""
    with pytest.raises(ValueError, match="interval_s must be positive"):
        HeapTrimmer(trim=lambda: False, interval_s=0.0)


class _Applied:
    def __init__(self, digest: str) -> None:
        self.hash = digest


@pytest.mark.looptime
async def test_a_new_site_brings_a_forced_pass_soon_and_a_ban_batch_does_not() -> None:
    """A config from another site: a pass `after_change_s` later that collects even though the
    interpreter ran a full collection since; the same site re-rendered (a ban batch) or the
    first config: nothing before the timed pass."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    passes: list[tuple[float, int]] = []
    count = [0]
    full = [0]  # the interpreter's count of full collections

    def collect() -> int:
        count[0] += 1
        full[0] += 1
        return 0

    def trim() -> bool:
        passes.append((loop.time() - start, count[0]))
        return False

    trimmer = HeapTrimmer(
        trim=trim,
        collect=collect,
        full_collections=lambda: full[0],
        interval_s=60.0,
        after_change_s=2.0,
        min_gap_s=10.0,
    )
    task = asyncio.create_task(trimmer.run())
    trimmer.on_config(_Applied("a"))  # the initial config
    await asyncio.sleep(5.0)
    trimmer.on_config(_Applied("a"))  # a ban batch: same site
    await asyncio.sleep(5.0)
    assert passes == []
    trimmer.on_config(_Applied("b"))  # at 10 s
    await asyncio.sleep(3.0)
    assert passes == [(12.0, 1)]
    full[0] += 1  # the interpreter's own
    trimmer.on_config(_Applied("c"))  # at 13 s: within the least gap of the last pass
    await asyncio.sleep(10.0)
    assert passes == [(12.0, 1), (22.0, 2)]  # forced: collected although one ran since
    full[0] += 1  # the interpreter's own again
    await asyncio.sleep(60.0)
    assert passes[2:] == [(82.0, 2)]  # the timed pass: the interpreter ran one, no collection
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_the_start_up_line_names_the_allocator_and_what_it_means() -> None:
    """glibc's malloc when PYTHONMALLOC says so (debug forms too); pymalloc otherwise, with the
    variable's value and what the image sets."""
    assert python_allocator({"PYTHONMALLOC": "malloc"}).startswith("glibc malloc")
    assert python_allocator({"PYTHONMALLOC": "malloc_debug"}).startswith("glibc malloc")
    assert "PYTHONMALLOC=not set" in python_allocator({})
    assert "PYTHONMALLOC=pymalloc" in python_allocator({"PYTHONMALLOC": "pymalloc"})
    assert RUN_ENVIRONMENT == {"PYTHONMALLOC": "malloc"}  # what the image and the lab set
