"""Every benchmark writes its report through bench/report.py: a header with the command, the
commit and the load average sampled during its run, never a load line of its own making."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
# memprobe.py runs inside the supervisor for bench_memory (which writes the report), not alone;
# memray_growth.py reads a recording for the investigation and prints, it writes no report.
NOT_BENCHMARKS = ("__init__.py", "report.py", "memprobe.py", "memray_growth.py")
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if p.name not in NOT_BENCHMARKS)


def test_there_are_benchmarks() -> None:
    """The glob finds the benchmarks (a moved directory must not make the test below vacuous)."""
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_samples_the_load_and_writes_the_shared_header(script: Path) -> None:
    """The script uses LoadSampler and header() from bench.report, and reads no load average
    itself (one taken at the end says nothing about the run)."""
    text = script.read_text()
    assert "from bench.report import" in text
    assert "LoadSampler" in text
    assert "header(" in text
    assert "getloadavg" not in text
