"""The soak's plan and its accounting, without the lab: faults land in distinct middle
segments for every size, and a segment is exact only when sipp and the supervisor agree."""

from __future__ import annotations

import pytest

from bench.bench_soak import FAULTS, FULL, SHORT, STREAMS, Plan, Segment, explain


@pytest.mark.parametrize("calls", [1, 300, 1_000, 10_000, 50_000])
def test_faults_get_distinct_segments_never_first_or_last(calls: int) -> None:
    """Each fault has its own segment; the first and last segments are always clean."""
    plan = Plan(calls=calls)
    faults = plan.fault_segments()
    assert sorted(faults.values()) == sorted(FAULTS)
    assert len(faults) == len(FAULTS)
    assert all(0 < index < plan.segments - 1 for index in faults)
    assert FULL.segments * FULL.rate * FULL.segment_s >= 10_000
    assert SHORT.segments * SHORT.rate * SHORT.segment_s >= 300


def test_a_segment_is_exact_only_when_counts_match_and_nothing_failed() -> None:
    """Equal per-key counts and no sipp failure: exact; a lost call or a failure: explained."""
    segment = Segment(0, None)
    for stream in STREAMS:
        segment.placed[stream.name] = segment.ok[stream.name] = 5
        segment.failed[stream.name] = 0
    segment.counted = dict.fromkeys({s.key for s in STREAMS}, 0)
    for stream in STREAMS:
        segment.counted[stream.key] += 5
    assert segment.exact
    assert explain(segment) == []
    first = STREAMS[0]
    segment.counted[first.key] -= 1
    segment.counted[(first.key[0], first.key[1], "lost")] = 1
    segment.failed[first.name] = 1
    assert not segment.exact
    notes = explain(segment)
    assert any("`lost`" in n for n in notes)
    assert any("failed in sipp" in n for n in notes)
