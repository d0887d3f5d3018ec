"""What every benchmark report is made of, so that a rerun reproduces it: the header (the command,
the commit, the machine's load sampled during the run), percentiles, and where the report goes.

A report is generated entirely by code: nothing in it is typed by hand, and writing it replaces
the whole file. Hand-written analysis lives next to it in `<name>.notes.md`, which no benchmark
ever writes; the report links to it when it exists. Claims about the machine come from samples
taken during the run (`LoadSampler`), never from a sentence: a figure measured at load 6 on
2 cores says so in its header.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from lab.paths import REPO

REPORTS = Path(__file__).resolve().parent / "reports"

#: Load samples kept at most; beyond it every other one is dropped and the interval doubles, so
#: a run of any length costs bounded memory and still covers its whole length evenly.
MAX_LOAD_SAMPLES = 2048


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1): the smallest value with at least a fraction q
    of the values at or below it; NaN for no values. The one definition every report uses."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile {q} is not in (0, 1]")
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def resolves(q: float, n: int) -> bool:
    """Whether n samples tell the q-quantile apart from the maximum: at least one sample must
    lie above it (a p99 of fewer than 100 samples is the maximum under another name)."""
    return n * (1 - q) >= 1 - 1e-9


def quantile_text(values: Sequence[float], q: float, fmt: str = "{:.1f}", unit: str = "") -> str:
    """`percentile` formatted, or why there is none (too few samples to resolve it)."""
    if not resolves(q, len(values)):
        return f"n/a ({len(values)} samples)"
    return fmt.format(percentile(values, q)) + unit


def commit() -> str:
    """HEAD's commit, marked `+changes` when tracked files other than reports differ from it
    (the report then describes code that no commit holds)."""

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", *argv], cwd=REPO, capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    # Reports themselves do not count: a benchmark run earlier in the same session rewrote one.
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/reports")
    return f"{head}+changes" if dirty else head


@dataclass(frozen=True)
class LoadSummary:
    """The 1-minute load average as sampled during a run."""

    samples: int
    minimum: float
    mean: float
    maximum: float
    cores: int

    def text(self) -> str:
        if not self.samples:
            return f"load average not sampled ({self.cores} cores)"
        return (
            f"load average (1 min) during the run {self.minimum:.2f} min / {self.mean:.2f} mean"
            f" / {self.maximum:.2f} max over {self.samples} samples, on {self.cores} cores"
        )


class LoadSampler:
    """Samples `os.getloadavg()` on a thread while in use (`with LoadSampler() as load:`)."""

    def __init__(self, interval_s: float = 5.0, *, max_samples: int = MAX_LOAD_SAMPLES) -> None:
        if max_samples < 2:
            raise ValueError("max_samples must be at least 2")
        self.interval_s = interval_s
        self.max_samples = max_samples
        self.values: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="load-sampler", daemon=True)

    def add(self, value: float) -> None:
        """Keep one sample; at the cap, thin to every other one and sample half as often."""
        with self._lock:
            self.values.append(value)
            if len(self.values) >= self.max_samples:
                del self.values[1::2]
                self.interval_s *= 2

    def _loop(self) -> None:
        while True:
            self.add(os.getloadavg()[0])
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(10)
        self.add(os.getloadavg()[0])  # the end of the run, however short it was

    def summary(self) -> LoadSummary:
        with self._lock:
            values = list(self.values)
        cores = os.cpu_count() or 1
        if not values:
            return LoadSummary(0, math.nan, math.nan, math.nan, cores)
        return LoadSummary(len(values), min(values), sum(values) / len(values), max(values), cores)


def command_line() -> str:
    """How this benchmark was run, as a reader would type it."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    program = f"python -m {spec.name}" if spec is not None else f"python {sys.argv[0]}"
    return " ".join([program, *sys.argv[1:]])


def header(
    title: str, load: LoadSummary, *, command: str | None = None, report: Path | None = None
) -> list[str]:
    """The report's first lines: title, how it was generated, on what, under which load."""
    lines = [
        f"# {title}",
        "",
        f"Generated by `{command or command_line()}` at commit {commit()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; Python "
        f"{platform.python_version()}; {load.text()}. A rerun replaces this whole file.",
    ]
    notes = notes_path(report) if report is not None else None
    if notes is not None and notes.exists():
        lines += ["", f"Analysis written by hand: [{notes.name}]({notes.name})."]
    return [*lines, ""]


def notes_path(report: Path) -> Path:
    """Where the hand-written analysis of a report lives (never written by a benchmark)."""
    return report.with_name(report.stem + ".notes.md")


def write(report: Path, text: str) -> Path:
    """Write a generated report (never its notes file)."""
    if report.name.endswith(".notes.md"):
        raise ValueError(f"{report} is hand-written analysis; a benchmark never writes it")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text if text.endswith("\n") else text + "\n")
    return report
