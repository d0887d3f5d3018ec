"""The short attack benchmark (bench/bench_attack.py --short) against the real supervisor and
Asterisk 22: forged sources never ban the registered phone, every doorbell call placed during
the attacks is answered, a rotating /48 ends refused as a whole, every one of many sources is
banned, a valid-name flood is counted and banned, malformed floods' log lines are limited.
Timing figures are the benchmark's report, not asserted here (the CI machine's load varies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import bench_attack

pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]


def test_short_attack_benchmark(rootfs: Path, tmp_path: Path) -> None:
    """The attack phases' outcomes, read from the generated report."""
    report = tmp_path / "attack.md"
    bench_attack.main(["--short", "--report", str(report)])
    text = report.read_text()
    rows = dict(
        (cells[1].strip(), cells[2].strip())
        for line in text.splitlines()
        if line.startswith("| ") and len(cells := line.split("|")) == 4
    )
    assert rows["phone banned"] == "no"
    assert rows["phone's REGISTER afterwards"] == "200"
    assert rows["neighbour banned by its own address"] == "yes"
    assert rows["unproven failures counted (never ban)"] == "80"
    assert rows["the /48 refused (its last /64, never used, probed)"] == "yes"
    assert rows["sources banned"] == "300"
    assert rows["bans evicted"] == "0"
    assert int(rows["unanswered-challenge batches counted (endpoint desk)"]) >= 1
    assert rows["the flooder banned"] == "yes"
    assert int(rows["Asterisk log lines not relayed (rate limit)"]) > 0
    phases = [c for line in text.splitlines() if len(c := line.split("|")) == 8][2:]
    assert len(phases) == 5
    for cells in phases:
        answered, _, placed = cells[6].strip().partition(" of ")
        assert answered == placed, cells[1]
    assert "The phone's REGISTER after all phases: 200." in text
