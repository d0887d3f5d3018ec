"""The exactness of the call counts through faults, with the real parts: the supervisor process in
sidecar mode (`--mode sidecar`; the test runs Asterisk as the other container would), Asterisk
22 and sipp placing calls of every outcome inbound (provider → DIDs → phones), outbound (doorbell
→ trunk → provider) and internal (doorbell → phones). Each fault hits while calls are up: an AMI
cut, a kill -9 and restart of the supervisor while Asterisk runs on, and a kill -9 of Asterisk.
`asterisk_supervisor_calls_total` (every supervisor process's, added as Prometheus' increase()
does) must equal sipp's own count per direction, trunk and outcome, with `lost` exactly the
calls that were up when Asterisk was killed.

The lab and the fault injection are the soak's (bench/bench_soak.py), at a few seconds of
traffic per fault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.bench_soak import (
    SIDECAR_FAULTS,
    STREAMS,
    FaultResult,
    Key,
    Plan,
    Segment,
    SoakLab,
    counts,
    explain,
    inject,
    poll,
    record_queue,
    run_segment,
    single,
    steady_counts,
)

pytestmark = pytest.mark.lab

PLAN = Plan(
    calls=0,
    rate=12.0,  # about 33 calls per segment: 5 of each answered stream, 2 of each other
    segment_s=2.5,
    hold_ms=2500,  # answered calls are up when the fault comes, a third of the way in
    swap_every_s=3600.0,
    ami_cut_s=2.0,
    recv_timeout_s=8.0,
    faults=SIDECAR_FAULTS,
    sidecar=True,
)
ANSWERED = ("int-answered", "out-answered", "in-answered")


@pytest.fixture(scope="module")
def soak(rootfs: Path) -> Iterator[SoakLab]:
    lab = SoakLab(PLAN)
    try:
        yield lab
    finally:
        lab.close()


def assert_exact(segment: Segment) -> None:
    """Every call sipp placed completed, and the counts equal sipp's per key, no `lost`."""
    assert sum(segment.placed.values()) >= 30, segment
    assert not any(segment.failed.values()), (segment, explain(segment))
    assert segment.settled, segment
    assert segment.exact, (segment.expected(), segment.counted, explain(segment))
    assert {k[0] for k in segment.counted} == {"internal", "outbound", "inbound"}
    assert {k[2] for k in segment.counted} == {"answered", "busy", "no_answer", "cancelled"}


def test_an_ami_cut_during_calls_changes_no_count(soak: SoakLab) -> None:
    """AMI REJECTed for 2 s while calls of every direction and outcome are up, start and end:
    each is counted once under sipp's outcome."""
    faults: list[FaultResult] = []
    segment = run_segment(soak, 0, "ami-cut", faults)
    assert faults[0].detect_s is not None  # the cut was seen: AMI really was down
    assert_exact(segment)


def test_a_supervisor_restart_in_sidecar_mode_changes_no_count(soak: SoakLab) -> None:
    """The supervisor killed (-9) while calls are up and a new one started on an invalid site
    (it runs the last good config kept on the volume, then applies the fixed site), Asterisk
    running on: the old process's counts plus the new one's equal sipp's, none twice, none
    lost."""
    faults: list[FaultResult] = []
    before_pid = soak.sup.process.pid if soak.sup.process else None
    segment = run_segment(soak, 1, "supervisor-restart", faults)
    assert soak.sup.process is not None
    assert soak.sup.process.pid != before_pid
    assert faults[0].recover_s is not None
    assert "(started on the last good config; the fixed site applied" in faults[0].note
    assert soak.carried  # the new process counted from zero; the old one's counts are kept
    assert_exact(segment)


def test_kill_9_of_asterisk_leaves_lost_exactly_the_calls_up(soak: SoakLab) -> None:
    """Six answered calls up (two per direction) when Asterisk is killed: exactly those six are
    `lost`, under their direction and trunk; a segment after the restart is exact again."""
    soak.segment = 2
    before = counts(soak)
    streams = [s for s in STREAMS if s.name in ANSWERED]
    callers = [soak.caller(s, calls=2, rate=10.0, hold_ms=60_000) for s in streams]
    try:
        up = poll(lambda: single(soak, "asterisk_supervisor_calls_active") == 6, 20, 0.1)
        assert up is not None, "six calls up"
        fault = inject(soak, "kill-9", 2)
        assert fault.recover_s is not None, fault
    finally:
        for uac in callers:
            uac.stop()
    # Lost calls are folded once a synced AMI view no longer has them, 15 s after their last
    # event (docs/records.md): wait for the record's queue to empty, then for steady counts.
    assert poll(lambda: record_queue(soak) == 0, 60, 0.2) is not None
    after = steady_counts(soak)
    assert after is not None
    lost: dict[Key, float] = {
        k: after.get(k, 0) - before.get(k, 0)
        for k in set(after) | set(before)
        if after.get(k, 0) != before.get(k, 0)
    }
    assert lost == {
        ("internal", "", "lost"): 2,
        ("outbound", "provider", "lost"): 2,
        ("inbound", "provider", "lost"): 2,
    }
    assert_exact(run_segment(soak, 3, None, []))
