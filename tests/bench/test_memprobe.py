"""The memory probe (bench/memprobe.py) and the memory bench's arithmetic (bench/bench_memory.py):
what each sample field means, and that slopes and growth leave the warm-up out."""

from __future__ import annotations

import pytest

from bench import memprobe
from bench.bench_memory import Run
from bench.report import LoadSummary

SMAPS = """\
55d0c0000000-55d0c0400000 rw-p 00000000 00:00 0                          [heap]
Rss:                3000 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
Rss:                1024 kB
7f0000100000-7f0000104000 rw-p 00000000 00:00 0
Rss:                   8 kB
7f0000200000-7f0000300000 r-xp 00000000 08:01 1234                       /usr/lib/libc.so.6
Rss:                 700 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                 132 kB
"""


def test_mapping_classes_split_heap_mib_arenas_other_anonymous_and_files() -> None:
    """smaps' resident sizes add up per class: the [heap], anonymous mappings of 1 MiB or more
    (pymalloc arenas, glibc's mmapped blocks), other anonymous ones ([stack] included), files."""
    assert memprobe.mapping_classes(SMAPS) == {
        "heap_kb": 3000,
        "anon_mib_kb": 1024,
        "anon_other_kb": 8 + 132,
        "file_kb": 700,
    }


def test_pymalloc_figures_come_from_the_interpreter_and_stderr_is_restored(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Under pymalloc (the interpreter's default) the arenas and their used bytes are read from
    _debugmallocstats, and nothing of it reaches the process's stderr."""
    figures = memprobe.pymalloc()
    assert figures["pymalloc_arenas"] >= 1
    assert 0 < figures["pymalloc_used_kb"] <= figures["pymalloc_arenas"] * 1024
    assert capfd.readouterr().err == ""


def test_slope_and_type_growth_count_only_after_warm_up() -> None:
    """A run whose RSS jumps during warm-up and is flat after it has a slope of zero; the object
    types that grew are those grown between the first and last counts after warm-up."""
    samples = [
        {"t": 0.0, "VmRSS": 1000, "types": {"a": 1, "b": 1}},
        {"t": 30.0, "VmRSS": 9000},
        {"t": 60.0, "VmRSS": 9000, "types": {"a": 5, "b": 10}},
        {"t": 90.0, "VmRSS": 9000},
        {"t": 120.0, "VmRSS": 9000, "types": {"a": 5, "b": 12}},
    ]
    load = LoadSummary(0, 0.0, 0.0, 0.0, 2)
    run = Run("product", samples, calls=100, seconds=120.0, warmup_s=60.0, load=load, growth=[])
    assert run.slope("VmRSS") == 0.0
    assert run.type_growth() == [("b", 10, 12)]
