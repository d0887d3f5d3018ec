"""Which stacks hold the malloc-level bytes that appeared after warm-up (a memray recording).

    python -m bench.memray_growth FILE --warmup-s 120 [--top 20] [--frames 8]

Reads a recording made by `bench.memprobe --memray` (every malloc, with its Python and native
stack, and a memory snapshot every sample). For each stack it sums the bytes allocated after
the first snapshot at or past `--warmup-s` and still allocated at the end: what grew in the
heap after warm-up, and who allocated it. The investigation tool behind memory.notes.md; not a
report generator.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import memray


def frames_text(record: object, frames: int) -> str:
    """The innermost `frames` frames (Python and native merged where memray can, else the
    Python stack then the innermost native frames), innermost first."""
    try:
        stack = record.hybrid_stack_trace(max_stacks=frames)  # type: ignore[attr-defined]
    except (NotImplementedError, AssertionError):
        python = record.stack_trace(max_stacks=frames)  # type: ignore[attr-defined]
        try:
            native = record.native_stack_trace(max_stacks=4)  # type: ignore[attr-defined]
        except (NotImplementedError, AssertionError):
            native = []
        stack = [*native, *python]
    return " < ".join(f"{func} ({Path(file).name}:{line})" for func, file, line in stack)


def growth(path: Path, warmup_s: float, frames: int) -> tuple[list[tuple[str, int, int]], str]:
    reader = memray.FileReader(str(path))
    snapshots = list(reader.get_memory_snapshots())
    start = snapshots[0].time
    warm = next((i for i, s in enumerate(snapshots) if (s.time - start) / 1000 >= warmup_s), None)
    if warm is None:
        raise SystemExit(f"{path}: no snapshot after {warmup_s} s")
    minutes = (snapshots[-1].time - snapshots[warm].time) / 60000
    grown: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for record in reader.get_temporal_allocation_records(merge_threads=True):
        live = [
            i
            for i in record.intervals
            if i.deallocated_before_snapshot is None and i.allocated_before_snapshot > warm
        ]
        if live:
            key = frames_text(record, frames)
            grown[key] += sum(i.n_bytes for i in live)
            count[key] += sum(i.n_allocations for i in live)
    rss = (snapshots[-1].rss - snapshots[warm].rss) / 1024
    heap = (snapshots[-1].heap - snapshots[warm].heap) / 1024
    summary = (
        f"{len(snapshots)} snapshots; after warm-up ({minutes:.1f} min): RSS {rss:+.0f} KiB, "
        f"bytes malloc'd and live {heap:+.0f} KiB; allocated after warm-up and live at the end: "
        f"{sum(grown.values()) / 1024:.0f} KiB in {sum(count.values())} blocks"
    )
    rows = [(key, size, count[key]) for key, size in grown.most_common()]
    return rows, summary


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memray_growth", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--warmup-s", type=float, default=120.0)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()
    rows, summary = growth(args.file, args.warmup_s, args.frames)
    print(summary)
    for key, size, n in rows[: args.top]:
        print(f"{size / 1024:9.1f} KiB {n:7d} blocks  {key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
