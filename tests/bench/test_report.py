"""The benchmark reports' shared parts: one percentile definition, load sampling that stays
bounded, a header that names the commit and the sampled load, notes that a rerun never touches."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from bench.report import (
    LoadSampler,
    header,
    notes_path,
    percentile,
    quantile_text,
    resolves,
    write,
)


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..100 is 50, p99 is 99 (not the maximum), p100 the maximum; no values: NaN."""
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    assert math.isnan(percentile([], 0.5))
    with pytest.raises(ValueError, match="not in"):
        percentile(values, 99)


def test_a_p99_of_fewer_than_100_samples_is_not_reported() -> None:
    """Below 100 samples a p99 would be the maximum: the report says so instead of a figure."""
    assert not resolves(0.99, 99)
    assert resolves(0.99, 100)
    assert resolves(0.5, 2)
    assert quantile_text([1.0] * 99, 0.99) == "n/a (99 samples)"
    assert quantile_text([float(v) for v in range(200)], 0.99, unit=" ms") == "197.0 ms"


def test_load_samples_stay_bounded_and_cover_the_whole_run() -> None:
    """At the cap every other sample is dropped and the interval doubles: never more than the
    cap, and the first and a late sample are both kept."""
    sampler = LoadSampler(interval_s=1.0, max_samples=8)
    for value in range(1000):
        sampler.add(float(value))
    assert len(sampler.values) < 8
    assert sampler.values[0] == 0.0
    assert sampler.values[-1] > 900
    assert sampler.interval_s > 1.0
    summary = sampler.summary()
    assert summary.samples == len(sampler.values)
    assert summary.minimum == 0.0
    assert summary.maximum == sampler.values[-1]


def test_the_sampler_samples_during_the_run() -> None:
    """A run inside the sampler gets at least its first and last load average."""
    with LoadSampler(interval_s=60) as load:
        pass
    summary = load.summary()
    assert summary.samples == 2
    assert summary.minimum <= summary.mean <= summary.maximum
    assert "load average (1 min) during the run" in summary.text()


def test_the_header_names_commit_and_load_and_links_existing_notes(tmp_path: Path) -> None:
    """The header carries the command, a commit id and the sampled load; the notes file is
    linked when it exists, and writing the report leaves it as it was."""
    report = tmp_path / "thing.md"
    with LoadSampler(interval_s=60) as load:
        pass
    text = "\n".join(header("Thing", load.summary(), command="python -m bench.x", report=report))
    assert text.startswith("# Thing\n")
    assert "`python -m bench.x`" in text
    assert re.search(r"at commit [0-9a-f]{12}(\+changes)?,", text)
    assert "load average (1 min) during the run" in text
    assert "notes" not in text
    notes = notes_path(report)
    notes.write_text("hand-written\n")
    text = "\n".join(header("Thing", load.summary(), command="x", report=report))
    assert "[thing.notes.md](thing.notes.md)" in text
    write(report, text)
    assert notes.read_text() == "hand-written\n"
    assert report.read_text().endswith("\n")
    with pytest.raises(ValueError, match="hand-written"):
        write(notes, "generated")
