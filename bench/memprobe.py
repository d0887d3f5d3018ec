"""The supervisor with a memory probe inside it, for bench_memory (the soak's load, RSS split).

    python -m bench.memprobe --out DIR [--remember N] [--trace-frames F] [--every S] -- run ...

Runs `python -m supervisor` with the arguments after `--`, after:

- `--remember N`: the supervisor's bounded memory of ended calls and channels
  (supervisor/ami/calls.py, 10,000 each) shrunk to N, so that it is full within a minute and
  what grows after it can be seen in minutes rather than after 10,000 calls;
- a sampler thread that writes a JSON line to DIR/samples.jsonl every `--every` seconds: RSS and
  its parts (/proc/self/status), anonymous memory by mapping class (/proc/self/smaps: the
  `[heap]`, 1 MiB-multiple mappings (pymalloc's arenas, glibc's mmapped blocks), other
  anonymous), glibc's `mallinfo2` (heap size, free bytes, mmapped bytes), Python's allocated
  blocks, gc counts, and every 6th sample the gc-tracked objects by type and the largest
  containers;
- `--trace-frames F` (> 0): tracemalloc with F frames, a snapshot pickled to DIR/snap-<n>.pickle
  every `--snapshot-every` samples (each one disturbs the allocator: memory.notes.md), from
  which the bench diffs allocation sites.

A bench tool, never the product: it patches a module constant before the supervisor builds its
state, and a variant (`--variant`) may restart the interpreter with PYTHONMALLOC or replace the
heap trimmer.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import ctypes.util
import functools
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisor.process.malloc import one_arena

_STATUS = re.compile(r"^(VmRSS|RssAnon|RssFile|RssShmem|Threads):\s+(\d+)", re.MULTILINE)
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def mallinfo() -> dict[str, int]:
    """glibc's heap figures in KiB (empty where there is no mallinfo2)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _Mallinfo2
    info = fn()
    return {
        "glibc_heap_kb": info.arena // 1024,
        "glibc_free_kb": info.fordblks // 1024,
        "glibc_mmapped_kb": info.hblkhd // 1024,
        "glibc_mmapped_blocks": info.hblks,
    }


def sqlite_memory() -> dict[str, int]:
    """SQLite's own heap use in KiB (sqlite3_memory_used: page caches, statements, schema of every
    connection), from the library the sqlite3 module loaded; empty where it cannot be found."""
    name = ctypes.util.find_library("sqlite3")
    try:
        fn = ctypes.CDLL(name).sqlite3_memory_used if name else None
    except (OSError, AttributeError):
        fn = None
    if fn is None:
        return {}
    fn.restype = ctypes.c_int64
    return {"sqlite_kb": int(fn()) // 1024}


class GarbageCensus:
    """What the garbage collector finds unreachable (reference cycles), by type, since the last
    census: with DEBUG_SAVEALL every collection, the interpreter's own included, keeps what it
    found in gc.garbage; each census counts it there and frees it (SAVEALL off for that one
    collection). Which parts make cyclic garbage, and how much, under the soak's load."""

    def __init__(self) -> None:
        gc.set_debug(gc.DEBUG_SAVEALL)

    def count(self) -> dict[str, int]:
        gc.collect()
        counts: collections.Counter[str] = collections.Counter(
            f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage
        )
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        return dict(counts)


def mapping_classes(smaps: str) -> dict[str, int]:
    """Resident KiB of the anonymous mappings by class: `[heap]`, whole MiB (pymalloc arenas and
    glibc's mmapped blocks, as the kernel merged them), other anonymous; and file-backed."""
    classes = {"heap_kb": 0, "anon_mib_kb": 0, "anon_other_kb": 0, "file_kb": 0}
    current = "anon_other_kb"
    for line in smaps.splitlines():
        m = _MAPPING.match(line)
        if m:
            size = int(m[2], 16) - int(m[1], 16)
            name = m[3]
            if name == "[heap]":
                current = "heap_kb"
            elif name.startswith("/"):
                current = "file_kb"
            elif name:
                current = "anon_other_kb"  # [stack], [vvar], ...
            else:
                current = "anon_mib_kb" if size >= 1 << 20 else "anon_other_kb"
        elif line.startswith("Rss:"):
            classes[current] += int(line.split()[1])
    return classes


class Structures:
    """The sizes of the supervisor's bounded structures: its `Calls` and `CallQuality`, found
    once on the heap (gc) after they are built, read by length (the GIL makes a len() atomic)."""

    def __init__(self) -> None:
        self.found: dict[str, Any] = {}

    def sizes(self) -> dict[str, int]:
        if len(self.found) < 2:
            for obj in gc.get_objects():
                name = type(obj).__name__
                if name in ("Calls", "CallQuality") and type(obj).__module__.startswith(
                    "supervisor."
                ):
                    self.found[name] = obj
        out: dict[str, int] = {}
        calls, quality = self.found.get("Calls"), self.found.get("CallQuality")
        if calls is not None:
            out["calls_active"] = len(calls.active)
            out["channels"] = len(calls.channels)
            out["ended_remembered"] = len(calls._ended_calls._keys)
            out["gone_channels_remembered"] = len(calls._gone_channels._keys)
        if quality is not None:
            out["quality_pending"] = quality.pending_calls
        return out


_PYMALLOC = {
    "arenas allocated current": "pymalloc_arenas",
    "bytes in allocated blocks": "pymalloc_used_kb",
    "bytes in available blocks": "pymalloc_free_kb",
}


def pymalloc() -> dict[str, Any]:
    """pymalloc's arenas and their use (KiB; arenas as a count), from sys._debugmallocstats.
    It prints to the C stderr: fd 2 is pointed at a file for the call, which holds the GIL, so
    no other thread of ours writes to it meanwhile."""
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("ascii", "replace")
    out: dict[str, Any] = {}
    pools: dict[str, list[int]] = {}
    for line in text.splitlines():
        per_class = re.match(r"\s*\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", line)
        if per_class:  # size, pools, blocks in use, available blocks
            size, n_pools, used, avail = (int(g) for g in per_class.groups())
            pools[str(size)] = [n_pools, used, avail]
            continue
        m = re.match(r"#\s*(\d+ )?(.+?)\s*=\s*([\d,]+)$", line)
        unused = re.match(r"\d+ unused pools \* \d+ bytes\s*=\s*([\d,]+)$", line)
        if unused:
            out["pymalloc_unused_pools_kb"] = int(unused[1].replace(",", "")) // 1024
        elif m and m[2] in _PYMALLOC:
            value = int(m[3].replace(",", ""))
            key = _PYMALLOC[m[2]]
            out[key] = value if key == "pymalloc_arenas" else value // 1024
    if pools:
        out["pymalloc_classes"] = pools
    return out


def type_counts() -> dict[str, int]:
    """Objects the garbage collector tracks, by type (module.name): which kinds grow."""
    counts: collections.Counter[str] = collections.Counter(
        f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
    )
    return dict(counts)


def largest_containers(top: int = 15) -> list[tuple[str, int]]:
    """The largest dicts, sets, lists and deques (gc-tracked), as (description, length): a
    container that grows shows up here even when no new object type does (a cache keyed by
    strings holds only objects the collector does not track)."""
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, dict | set | frozenset | list | collections.deque):
            n = len(obj)
            if n >= 200:
                found.append((n, obj))
    found.sort(key=lambda item: item[0], reverse=True)
    out = []
    for n, obj in found[:top]:
        first = next(iter(obj), None)
        out.append((f"{type(obj).__name__}@{id(obj):x} first={repr(first)[:60]}", n))
    return out


def sample(t0: float, structures: Structures | None = None) -> dict[str, Any]:
    status = Path("/proc/self/status").read_text()
    row: dict[str, Any] = {"t": round(time.monotonic() - t0, 2)}
    row.update({k: int(v) for k, v in _STATUS.findall(status)})
    row.update(mapping_classes(Path("/proc/self/smaps").read_text()))
    row.update(mallinfo())
    row.update(sqlite_memory())
    times = os.times()
    row["cpu_s"] = round(times.user + times.system, 3)
    row["py_blocks"] = sys.getallocatedblocks()
    row["gc_counts"] = list(gc.get_count())
    row["gc_collections"] = [g["collections"] for g in gc.get_stats()]
    row.update(pymalloc())
    if structures is not None:
        row.update(structures.sizes())
    if tracemalloc.is_tracing():
        row["traced_kb"] = tracemalloc.get_traced_memory()[0] // 1024
    return row


#: Every how many samples the objects are counted by type (a walk of every tracked object).
TYPES_EVERY = 6


def _sampler(
    out: Path, every_s: float, snapshots: bool, snapshot_every: int, garbage: bool
) -> None:
    t0 = time.monotonic()
    n = 0
    structures = Structures()
    census = GarbageCensus() if garbage else None
    with (out / "samples.jsonl").open("a") as samples:
        while True:
            row = sample(t0, structures)
            if n % TYPES_EVERY == 0:
                row["types"] = type_counts()
                row["containers"] = largest_containers()
            if census is not None:
                row["garbage"] = census.count()
            if snapshots and n % snapshot_every == 0:
                path = out / f"snap-{n:04d}.pickle"
                tracemalloc.take_snapshot().dump(str(path))
                row["snapshot"] = path.name
            samples.write(json.dumps(row) + "\n")
            samples.flush()
            n += 1
            time.sleep(every_s)


def _product() -> None:
    """The supervisor as it ships."""


def _environment(**values: str) -> Callable[[], None]:
    """Run with these environment variables set: the interpreter reads some (PYTHONMALLOC) and
    the dynamic loader others (LD_PRELOAD) only at start-up, so the probe starts itself again
    with them."""

    def apply() -> None:
        if any(os.environ.get(name) != value for name, value in values.items()):
            os.environ.update(values)
            os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])

    return apply


def _no_collection() -> None:
    """The heap trimmer without its garbage collection (as it was before: trim only)."""
    from supervisor import app
    from supervisor.process.malloc import HeapTrimmer

    app.HeapTrimmer = functools.partial(HeapTrimmer, collect=lambda: 0)  # type: ignore[misc]


def _timed_passes_only() -> None:
    """The heap trimmer without its pass after a site change (as it was before: every 60 s)."""
    from supervisor.process.malloc import HeapTrimmer

    HeapTrimmer.on_config = lambda self, config: None  # type: ignore[method-assign]


#: What the bench compares on one commit: the product, or the product with one measure changed.
VARIANTS: dict[str, Callable[[], None]] = {
    "product": _product,
    # The heap trimmer without its garbage collection (the supervisor of 77f028a).
    "before": _no_collection,
    # The heap trimmer's timed passes only, none after a site change (the supervisor of 87364d5).
    "timed": _timed_passes_only,
    # Python's objects in pymalloc's arenas (the supervisor before RUN_ENVIRONMENT; the lab's
    # runs set PYTHONMALLOC=malloc as the image does, so "product" is glibc's heap).
    "pymalloc": _environment(PYTHONMALLOC="pymalloc"),
    # Every allocation (Python's objects too) from jemalloc, which gives freed pages back to the
    # kernel after a delay of its own (Debian's libjemalloc2).
    "jemalloc": _environment(
        PYTHONMALLOC="malloc", LD_PRELOAD="/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    ),
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    rest = args[args.index("--") + 1 :] if "--" in args else []
    own = args[: args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(prog="python -m bench.memprobe", description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--remember", type=int, default=None)
    parser.add_argument("--trace-frames", type=int, default=0)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--snapshot-every", type=int, default=18, help="samples between snapshots")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="product")
    parser.add_argument(
        "--garbage", action="store_true", help="count cyclic garbage by type at every sample"
    )
    parser.add_argument("--memray", action="store_true", help="record every malloc with memray")
    opts = parser.parse_args(own)
    opts.out.mkdir(parents=True, exist_ok=True)
    if opts.remember is not None:
        from supervisor.ami import calls

        calls._REMEMBERED = opts.remember  # read when AsteriskState is built
    VARIANTS[opts.variant]()
    if opts.trace_frames > 0:
        tracemalloc.start(opts.trace_frames)
    # The product sets this before its first thread (runner.main); the sampler is one earlier.
    one_arena()
    threading.Thread(
        target=_sampler,
        args=(opts.out, opts.every, opts.trace_frames > 0, opts.snapshot_every, opts.garbage),
        daemon=True,
    ).start()
    from supervisor.cli import main as supervisor_main

    sys.argv = ["supervisor", *rest]
    if opts.memray:
        # Every malloc-level allocation (Python's objects over 512 bytes, and C libraries')
        # with its Python and native stack, and a memory snapshot every sample: which stacks
        # hold the bytes that appeared after warm-up (bench.memray_growth reads it).
        import memray

        with memray.Tracker(
            opts.out / "memray.bin", native_traces=True, memory_interval_ms=int(opts.every * 1000)
        ):
            return supervisor_main(rest)
    return supervisor_main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
