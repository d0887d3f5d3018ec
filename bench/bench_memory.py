"""Memory under the soak's load, in minutes: where the supervisor's RSS goes after warm-up.

    python -m bench.bench_memory [--segments 12] [--remember 500] [--trace-frames 0]
                                 [--variants product,...] [--report bench/reports/memory.md]

The soak's lab and traffic (bench/bench_soak.py: twelve sipp callers, 20 calls/s in 30 s
segments, ConfigMap swaps every 30 s; no faults), with the supervisor started through
bench/memprobe.py: its bounded memory of ended calls and channels shrunk to `--remember` (10,000
in the product) so that it is full within the first minute, and a probe thread sampling RSS and
its parts every 10 s: anonymous memory by mapping class (smaps), glibc's heap and mmapped bytes
(mallinfo2), Python's allocated blocks; with `--trace-frames F`, tracemalloc snapshots whose
growth after warm-up is listed by allocation site.

Each variant is one run on the same commit (memprobe's `--variant`: the product as it is, or
with one of its memory measures turned off), so the report sets them side by side. Slopes are
least squares over the samples after warm-up (the first `--warmup-s` seconds, and at least
until twice `--remember` calls were placed).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_soak import Plan, SoakLab, Swapper, run_segment, slope_per_min
from bench.report import LoadSampler, LoadSummary, header, write

REPORT = Path(__file__).resolve().parent / "reports" / "memory.md"
#: Sample fields in KiB, the order the report lists them, and what each is.
FIELDS = {
    "VmRSS": "RSS",
    "RssAnon": "anonymous (RssAnon)",
    "heap_kb": "glibc main heap mapping (`[heap]`, resident)",
    "anon_mib_kb": "anonymous mappings of 1 MiB or more (pymalloc arenas, mmapped blocks)",
    "anon_other_kb": "other anonymous mappings (thread stacks, small mmaps)",
    "pymalloc_arena_kb": "pymalloc arenas (1 MiB each)",
    "pymalloc_used_kb": "pymalloc bytes in allocated blocks",
    "pymalloc_free_kb": "pymalloc free blocks in used pools",
    "pymalloc_unused_pools_kb": "pymalloc unused pools",
    "RssFile": "file-backed (RssFile)",
    "glibc_heap_kb": "glibc heap size (mallinfo2 arena)",
    "glibc_free_kb": "glibc heap free bytes (fordblks)",
    "glibc_mmapped_kb": "glibc mmapped blocks (hblkhd)",
    "sqlite_kb": "SQLite's own heap (sqlite3_memory_used)",
    "traced_kb": "Python memory traced by tracemalloc",
}


@dataclass(frozen=True)
class Run:
    variant: str
    samples: list[dict[str, Any]]
    calls: int
    seconds: float
    warmup_s: float
    load: LoadSummary
    growth: list[tuple[str, float, int]]  # (site, KiB grown after warm-up, blocks grown)

    def cpu_ms_per_call(self) -> float:
        """The supervisor's CPU time after warm-up per call placed meanwhile (NaN: unknown)."""
        after = [s for s in self.after() if "cpu_s" in s]
        if len(after) < 2 or self.seconds <= 0:
            return float("nan")
        calls = self.calls * (after[-1]["t"] - after[0]["t"]) / self.seconds
        return 1000 * (after[-1]["cpu_s"] - after[0]["cpu_s"]) / calls if calls else float("nan")

    def type_growth(self, top: int = 12) -> list[tuple[str, int, int]]:
        """Object types (gc-tracked) that grew most after warm-up: (type, first, last)."""
        counted = [s for s in self.after() if "types" in s]
        if len(counted) < 2:
            return []
        first, last = counted[0]["types"], counted[-1]["types"]
        grown = sorted(last, key=lambda k: last[k] - first.get(k, 0), reverse=True)[:top]
        return [(k, first.get(k, 0), last[k]) for k in grown if last[k] > first.get(k, 0)]

    def after(self) -> list[dict[str, Any]]:
        return [s for s in self.samples if s["t"] >= self.warmup_s]

    def class_growth(self, top: int = 8) -> list[tuple[str, list[int], list[int]]]:
        """pymalloc's size classes whose pool count grew most after warm-up: (block size,
        [pools, blocks in use, available] first, the same last)."""
        rows = [s for s in self.after() if "pymalloc_classes" in s]
        if len(rows) < 2:
            return []
        first, last = rows[0]["pymalloc_classes"], rows[-1]["pymalloc_classes"]
        grown = [(size, first.get(size, [0, 0, 0]), last[size]) for size in last]
        grown.sort(key=lambda row: row[2][0] - row[1][0], reverse=True)
        return [row for row in grown[:top] if row[2][0] > row[1][0]]

    def garbage_per_minute(self, top: int = 15) -> list[tuple[str, float]]:
        """The types found most in cyclic garbage after warm-up, per minute (empty without
        `--garbage`)."""
        counted = [s for s in self.after() if "garbage" in s]
        if len(counted) < 2:
            return []
        minutes = (counted[-1]["t"] - counted[0]["t"]) / 60
        total: collections.Counter[str] = collections.Counter()
        for row in counted[1:]:  # the first census holds what came before warm-up
            total.update(row["garbage"])
        return [(name, n / minutes) for name, n in total.most_common(top)]

    def slope(self, field: str) -> float | None:
        points = [(s["t"], float(s[field])) for s in self.after() if field in s]
        return slope_per_min(points) if len(points) >= 3 else None


def run_variant(
    variant: str,
    *,
    segments: int,
    remember: int,
    trace_frames: int,
    warmup_s: float,
    garbage: bool = False,
    memray: bool = False,
    swap_every_s: float = 30.0,
    keep: Path | None = None,
    progress: Callable[[str], None] = print,
) -> Run:
    out = Path(tempfile.mkdtemp(prefix="asb-memprobe-"))
    out.chmod(0o755)
    try:
        launcher = ["-m", "bench.memprobe", "--out", str(out), "--remember", str(remember)]
        launcher += ["--trace-frames", str(trace_frames), "--variant", variant]
        launcher += ["--garbage"] if garbage else []
        launcher += ["--memray", "--"] if memray else ["--"]
        plan = Plan(calls=0, faults=(), launcher=tuple(launcher))
        with LoadSampler() as load:
            soak = SoakLab(plan)
            try:
                t0 = time.monotonic()
                placed = 0
                swaps = (
                    Swapper(soak, swap_every_s) if swap_every_s > 0 else contextlib.nullcontext()
                )
                with swaps:
                    for index in range(segments):
                        segment = run_segment(soak, index, None, [])
                        placed += sum(segment.placed.values())
                        progress(
                            f"{variant}: segment {index + 1}/{segments}, {placed} calls, "
                            f"{time.monotonic() - t0:.0f} s"
                        )
                seconds = time.monotonic() - t0
            finally:
                soak.close()
            summary = load.summary()
        samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / "samples.jsonl", keep / f"{variant}.jsonl")
            if memray:
                shutil.move(out / "memray.bin", keep / f"{variant}.memray.bin")
        for row in samples:
            if "pymalloc_arenas" in row:
                row["pymalloc_arena_kb"] = row["pymalloc_arenas"] * 1024
        # Warm-up: the ended-call memory is full once `remember` calls ended; twice that, and at
        # least `warmup_s`, leaves the start-up and first swaps out of the slope.
        warm = max(warmup_s, 2 * remember / (placed / seconds))
        growth = snapshot_growth(out, samples, warm) if trace_frames > 0 else []
        return Run(variant, samples, placed, seconds, warm, summary, growth)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def snapshot_growth(
    out: Path, samples: Sequence[dict[str, Any]], warmup_s: float, top: int = 12
) -> list[tuple[str, float, int]]:
    """Allocation sites that grew most between the first snapshot after warm-up and the last."""
    snaps = [s for s in samples if "snapshot" in s and s["t"] >= warmup_s]
    if len(snaps) < 2:
        return []
    first = tracemalloc.Snapshot.load(str(out / snaps[0]["snapshot"]))
    last = tracemalloc.Snapshot.load(str(out / snaps[-1]["snapshot"]))
    stats = last.compare_to(first, "traceback")
    rows = []
    for stat in sorted(stats, key=lambda s: s.size_diff, reverse=True)[:top]:
        frames = [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in stat.traceback[-4:]]
        rows.append((" < ".join(reversed(frames)), stat.size_diff / 1024, stat.count_diff))
    return rows


def section(title: str, head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A titled table: the first column left-aligned, the others right-aligned."""
    return [
        "",
        f"## {title}",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def render(runs: Sequence[Run], load: LoadSummary, args: argparse.Namespace, report: Path) -> str:
    lines = header(
        "Memory after warm-up under the soak's load",
        load,
        command="python -m bench.bench_memory " + " ".join(args.argv),
        report=report,
    )
    lines += [
        "The set-up is in `bench/bench_memory.py`'s docstring. Ended-call memory shrunk to "
        f"**{args.remember}** (10,000 in the product) so that it is full within the first "
        "minute; slopes are least squares over the probe's samples (every 10 s) after warm-up.",
        "",
        "| variant | calls | minutes | warm-up | calls after warm-up | load (1 min) mean / max |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        after_calls = round(r.calls * max(0.0, r.seconds - r.warmup_s) / r.seconds)
        lines.append(
            f"| {r.variant} | {r.calls} | {r.seconds / 60:.1f} | {r.warmup_s:.0f} s | "
            f"{after_calls} | {r.load.mean:.2f} / {r.load.maximum:.2f} |"
        )
    lines += [
        "",
        "CPU of the supervisor after warm-up, per call placed: "
        + ", ".join(f"{r.variant} {r.cpu_ms_per_call():.2f} ms" for r in runs)
        + ".",
        "",
    ]
    lines += ["## Slopes after warm-up (KiB per minute)", ""]
    lines.append("| what | " + " | ".join(r.variant for r in runs) + " |")
    lines.append("|---|" + "---:|" * len(runs))
    for field, what in FIELDS.items():
        values = [r.slope(field) for r in runs]
        if all(v is None for v in values):
            continue
        lines.append(
            f"| {what} | " + " | ".join("n/a" if v is None else f"{v:+.1f}" for v in values) + " |"
        )
    lines += ["", "## Start and end of the post-warm-up stretch (KiB)", ""]
    lines.append("| what | " + " | ".join(r.variant for r in runs) + " |")
    lines.append("|---|" + "---:|" * len(runs))
    for field, what in FIELDS.items():
        cells = []
        for r in runs:
            after = [s for s in r.after() if field in s]
            cells.append(f"{after[0][field]} → {after[-1][field]}" if after else "n/a")
        if any(c != "n/a" for c in cells):
            lines.append(f"| {what} | " + " | ".join(cells) + " |")
    for r in runs:
        grown = r.type_growth()
        if grown:
            counted = [s for s in r.after() if "types" in s]
            lines += section(
                f"{r.variant}: object types grown after warm-up (gc-tracked objects, "
                f"{counted[0]['t']:.0f} s → {counted[-1]['t']:.0f} s)",
                ("type", "first", "last"),
                [(f"`{name}`", a, b) for name, a, b in grown],
            )
        classes = r.class_growth()
        if classes:
            lines += section(
                f"{r.variant}: pymalloc size classes after warm-up (pools of 16 KiB; blocks "
                "in use), the classes whose pools grew most",
                ("block size", "pools first → last", "blocks in use first → last"),
                [(size, f"{a[0]} → {b[0]}", f"{a[1]} → {b[1]}") for size, a, b in classes],
            )
        garbage = r.garbage_per_minute()
        if garbage:
            lines += section(
                f"{r.variant}: cyclic garbage after warm-up, objects per minute by type "
                "(`--garbage`: every collection's finds counted)",
                ("type", "per minute"),
                [(f"`{name}`", f"{n:.0f}") for name, n in garbage],
            )
        if r.growth:
            lines += section(
                f"{r.variant}: allocation sites grown after warm-up (tracemalloc)",
                ("site (innermost first)", "KiB", "blocks"),
                [(f"`{site}`", f"{kib:+.1f}", f"{n:+d}") for site, kib, n in r.growth],
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_memory", description=__doc__)
    parser.add_argument("--segments", type=int, default=12)
    parser.add_argument("--remember", type=int, default=500)
    parser.add_argument("--trace-frames", type=int, default=0)
    parser.add_argument("--garbage", action="store_true", help="count cyclic garbage by type")
    parser.add_argument(
        "--swap-every", type=float, default=30.0, help="seconds between site swaps (0: none)"
    )
    parser.add_argument("--memray", action="store_true", help="record mallocs (with --keep)")
    parser.add_argument("--keep", type=Path, default=None, help="keep each variant's samples")
    parser.add_argument("--warmup-s", type=float, default=120.0)
    parser.add_argument("--variants", default="product")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    args.argv = [
        f"--segments {args.segments}",
        f"--remember {args.remember}",
        f"--trace-frames {args.trace_frames}",
        f"--variants {args.variants}",
        f"--swap-every {args.swap_every:g}",
    ]
    with LoadSampler() as load:
        runs = [
            run_variant(
                variant,
                segments=args.segments,
                remember=args.remember,
                trace_frames=args.trace_frames,
                garbage=args.garbage,
                memray=args.memray,
                swap_every_s=args.swap_every,
                keep=args.keep,
                warmup_s=args.warmup_s,
            )
            for variant in args.variants.split(",")
        ]
        overall = load.summary()
    text = render(runs, overall, args, args.report)
    print(text)
    write(args.report, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
