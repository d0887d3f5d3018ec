"""The call record against a real Asterisk 22 and sipp: what Asterisk recorded, folded and counted
by the product's recorder, equals sipp's own count per direction and outcome, through an AMI cut,
a supervisor restart while Asterisk runs on (sidecar mode) and a kill -9 of Asterisk.

One Asterisk for the module; each test compares count deltas of the calls it makes (the kill -9
test leaves a fresh Asterisk)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import sipp
from lab.asterisk import wait_until
from lab.recordpbx import RecordPbx
from supervisor.records.store import Query

pytestmark = pytest.mark.lab

Counts = dict[tuple[str, str, str], int]
INTERNAL_ANSWERED = ("internal", "", "answered")


@pytest.fixture(scope="module")
def pbx(rootfs: Path) -> Iterator[RecordPbx]:
    the_lab = RecordPbx(rootfs)
    try:
        the_lab.start_asterisk()
        the_lab.start_supervisor()
        the_lab.wait_booted()
        the_lab.start_registrar()
        yield the_lab
    finally:
        the_lab.close()


def delta(after: Counts, before: Counts) -> Counts:
    keys = set(after) | set(before)
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) != before.get(k, 0)
    }


def finish(uac: sipp.Sipp, timeout: float = 40) -> None:
    """sipp placed all its calls and counted each one successful (exit 0)."""
    assert uac.wait(timeout) == 0, uac.output()[-1500:]


def settle(pbx: RecordPbx, before: Counts, expected: Counts, timeout: float = 15) -> None:
    with contextlib.suppress(TimeoutError):  # the assertion below shows the difference
        wait_until(lambda: delta(pbx.counts(), before) == expected, timeout)
    assert delta(pbx.counts(), before) == expected


def test_every_outcome_is_recorded_and_agrees_with_ami(pbx: RecordPbx) -> None:
    """Answered, busy and unanswered internal calls, outbound and inbound answered calls: the
    record's counts equal sipp's calls per direction and outcome, the AMI view's counts equal
    the record's, and the history names caller, callee and who answered."""
    before, ami_before = pbx.counts(), pbx.on_loop(lambda: dict(pbx.state.calls.total))
    uacs = [
        pbx.call("doorbell", "10", calls=3, hold_ms=500),
        pbx.call("doorbell", "11", calls=2),
        pbx.call("doorbell", "12", calls=1),
        pbx.call("doorbell", "20", calls=2, hold_ms=500),
        pbx.call("provider", "100", calls=2, hold_ms=500),
    ]
    for uac in uacs:
        finish(uac)
    expected = {
        INTERNAL_ANSWERED: 3,
        ("internal", "", "busy"): 2,
        ("internal", "", "no_answer"): 1,
        ("outbound", "provider", "answered"): 2,
        ("inbound", "provider", "answered"): 2,
    }
    settle(pbx, before, expected)
    ami = pbx.on_loop(lambda: dict(pbx.state.calls.total))
    assert delta(ami, ami_before) == expected
    recent = pbx.store.query(Query(limit=10))
    inbound = [r for r in recent if r.direction == "inbound"]
    assert [(r.callee, r.answered_by) for r in inbound] == [("100", "phone1")] * 2
    outbound = [r for r in recent if r.direction == "outbound"]
    assert [(r.caller, r.callee, r.answered_by) for r in outbound] == [
        ("sipp", "20", "provider")
    ] * 2
    assert all(r.talk_s is not None and r.talk_s >= 0.4 for r in inbound + outbound)
    assert pbx.store.open_calls() == 0


def test_calls_during_an_ami_cut_are_counted_once_under_their_outcome(pbx: RecordPbx) -> None:
    """AMI is cut while calls start and end (the AMI view can only call one `lost` and never
    sees the others): the record counts each under its real outcome, none twice, none lost."""
    before = pbx.counts()
    long_call = pbx.call("doorbell", "10", calls=1, hold_ms=6000)
    wait_until(lambda: pbx.on_loop(lambda: pbx.state.calls.count) == 1, 10, what="call up")
    pbx.proxy.refuse = True
    pbx.on_loop(pbx.proxy.cut)
    wait_until(lambda: pbx.value("asterisk_supervisor_ami_connected") == 0, 5)
    unseen = [pbx.call("doorbell", "11", calls=2), pbx.call("provider", "100", calls=2)]
    for uac in unseen:
        finish(uac)
    finish(long_call)
    pbx.proxy.refuse = False
    settle(
        pbx,
        before,
        {
            INTERNAL_ANSWERED: 1,
            ("internal", "", "busy"): 2,
            ("inbound", "provider", "answered"): 2,
        },
    )


def test_a_supervisor_restart_counts_what_it_did_not_see(pbx: RecordPbx) -> None:
    """The supervisor stops while Asterisk takes calls, and a new one starts: every call is
    counted once over both processes (the old one's counts plus the new one's)."""
    before = pbx.counts()
    finish(pbx.call("doorbell", "10", calls=1, hold_ms=300))
    settle(pbx, before, {INTERNAL_ANSWERED: 1})
    pbx.stop_supervisor()
    finish(pbx.call("provider", "100", calls=2, hold_ms=300))
    finish(pbx.call("doorbell", "12", calls=1))
    pbx.start_new_supervisor()
    settle(
        pbx,
        before,
        {
            INTERNAL_ANSWERED: 1,
            ("inbound", "provider", "answered"): 2,
            ("internal", "", "no_answer"): 1,
        },
    )


def test_kill_9_leaves_lost_only_the_calls_that_had_no_end(pbx: RecordPbx) -> None:
    """Asterisk killed with two calls up: after the new Asterisk is up and AMI synced, exactly
    those two are `lost`; calls before and after the kill keep their real outcomes."""
    before = pbx.counts()
    finish(pbx.call("doorbell", "11", calls=1))
    doomed = pbx.call("doorbell", "10", calls=2, hold_ms=30000)
    wait_until(lambda: pbx.on_loop(lambda: pbx.state.calls.count) == 2, 10, what="calls up")
    pbx.kill_asterisk()
    doomed.stop()
    pbx.wait_booted(30)
    wait_until(lambda: pbx.on_loop(lambda: pbx.state.live), 15, what="AMI synced")
    finish(pbx.call("provider", "100", calls=1, hold_ms=300))
    settle(
        pbx,
        before,
        {
            ("internal", "", "busy"): 1,
            ("internal", "", "lost"): 2,
            ("inbound", "provider", "answered"): 1,
        },
        timeout=20,
    )
    lost = [r for r in pbx.store.query(Query(limit=10)) if r.outcome == "lost"]
    assert [(r.callee, r.end_seen) for r in lost] == [("10", False)] * 2
