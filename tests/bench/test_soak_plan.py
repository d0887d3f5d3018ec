"""The soak's plan and its accounting, without the lab: faults land in distinct middle
segments for every size, and a segment is exact only when sipp and the supervisor agree."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.bench_soak import (
    FAULTS,
    FULL,
    SHORT,
    STREAMS,
    WARMUP_CALLS,
    Plan,
    Segment,
    after_warmup,
    explain,
    rss_lines,
)


@pytest.mark.parametrize("calls", [1, 300, 1_000, 10_000, 50_000])
def test_faults_get_distinct_segments_never_first_or_last(calls: int) -> None:
    """Each fault has its own segment; the first and last segments are always clean."""
    plan = Plan(calls=calls)
    faults = plan.fault_segments()
    assert sorted(faults.values()) == sorted(FAULTS)
    assert len(faults) == len(FAULTS)
    assert all(0 < index < plan.segments - 1 for index in faults)
    per_segment = 0.99 * FULL.rate * FULL.segment_s  # sipp rounds each stream's share
    warm_up = -(-WARMUP_CALLS // per_segment)
    assert (FULL.segments - warm_up) * per_segment >= 20_000
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


def test_rss_is_judged_after_warm_up_over_the_calls_placed_since() -> None:
    """The RSS slope that must be flat starts at the end of the segment that reached
    WARMUP_CALLS, and counts the calls placed after it; a run too short says so."""
    segments = []
    for index in range(4):
        segment = Segment(index, None, ended_at=100.0 + 60 * (index + 1))
        segment.placed = {"int-answered": WARMUP_CALLS // 2}
        segments.append(segment)
    samplers = SimpleNamespace(
        t0=100.0,
        process=[(float(t), 80.0 + (0.5 if t < 120 else 1.0), 14.0, 0.0) for t in range(0, 241, 2)],
    )
    result = SimpleNamespace(segments=segments, samplers=samplers, placed=2 * WARMUP_CALLS)
    assert after_warmup(result) == (120.0, WARMUP_CALLS)  # type: ignore[arg-type]
    text = "\n".join(rss_lines(result))  # type: ignore[arg-type]
    assert "**+0.0 KB/min**" in text
    assert f"**{WARMUP_CALLS:,} calls**" in text
    result.segments = segments[:3]  # half the warm-up's calls after it: too few to judge
    assert "fewer than 20,000 calls after warm-up" in "\n".join(rss_lines(result))  # type: ignore[arg-type]
    result.segments = segments[:1]
    assert after_warmup(result) is None  # type: ignore[arg-type]
    assert "not reached" in "\n".join(rss_lines(result))  # type: ignore[arg-type]


def test_warm_up_restarts_with_the_supervisor() -> None:
    """A supervisor restarted in segment 1 starts with an empty memory of ended calls: its
    warm-up is counted from the end of that segment, so it ends two segments later than the
    run's would, and a run too short after the restart says so."""
    segments = []
    for index in range(6):
        fault = "supervisor-restart" if index == 1 else None
        segment = Segment(index, fault, ended_at=100.0 + 60 * (index + 1))
        segment.placed = {"int-answered": WARMUP_CALLS // 2}
        segments.append(segment)
    samplers = SimpleNamespace(t0=100.0, process=[(0.0, 80.0, 14.0, 0.0), (400.0, 80.0, 14.0, 0.0)])
    result = SimpleNamespace(segments=segments, samplers=samplers, placed=3 * WARMUP_CALLS)
    assert after_warmup(result) == (240.0, WARMUP_CALLS)  # type: ignore[arg-type]
    result.segments = segments[:3]
    assert after_warmup(result) is None  # type: ignore[arg-type]
    assert "counted from the supervisor's restart" in "\n".join(rss_lines(result))  # type: ignore[arg-type]
