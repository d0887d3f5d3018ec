"""The soak's short version (bench/bench_soak.py, SHORT plan): a few hundred calls of every
direction and outcome through the real supervisor, Asterisk and sipp, ConfigMap swaps, and each
fault once (AMI cut, kill -9, freeze, address flap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_soak import SHORT, Segment, explain, render, run_soak

pytestmark = pytest.mark.lab


def test_short_soak_counts_exactly_outside_faults_and_recovers_from_each(rootfs: Path) -> None:
    """Clean segments: sipp's statistics equal the supervisor's counts per direction and
    outcome; every fault is detected and recovered from (the freeze by the hang watchdog within
    twice its timeout plus boot); no phantom call is left; counts differ only in fault
    segments, and a call counted under an outcome beyond sipp's is one that sipp saw fail."""
    result = run_soak(SHORT, progress=lambda line: print(line, flush=True))
    print(render(result))
    clean = [g for g in result.segments if g.fault is None]
    assert len(clean) >= 2
    for segment in clean:
        assert segment.exact, (segment, explain(segment))
    assert result.placed >= 300
    assert {f.name for f in result.faults} == {"ami-cut", "kill-9", "freeze", "address-flap"}
    for fault in result.faults:
        assert fault.detect_s is not None, fault
        assert fault.recover_s is not None, fault
    freeze = next(f for f in result.faults if f.name == "freeze")
    assert freeze.recover_s is not None
    assert freeze.recover_s < 2 * SHORT.hang_timeout_s + 15
    assert result.phantom_calls == 0
    for segment in result.segments:
        assert segment.settled, segment
        # Never more counted than sipp placed.
        assert sum(segment.counted.values()) <= sum(segment.placed.values())
        if not segment.exact:
            assert beyond_sipp(segment) <= sum(segment.failed.values()), (segment, explain(segment))


def beyond_sipp(segment: Segment) -> int:
    """Calls counted under an outcome (not `lost`) more often than sipp completed with it."""
    expected = segment.expected()
    counted = {k: v for k, v in segment.counted.items() if k[2] != "lost"}
    return sum(max(0, v - expected.get(k, 0)) for k, v in counted.items())
