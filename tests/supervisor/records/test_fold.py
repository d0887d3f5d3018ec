"""Folding one call's CEL events into its history row (Asterisk 22.10's events from the lab)."""

from __future__ import annotations

from supervisor.records.fold import MAX_NUMBER, fold
from tests.supervisor.records.cel import (
    BUSY,
    INBOUND,
    NO_ANSWER,
    OUTBOUND,
    TRUNKS,
    VOICEMAIL,
    cel_rows,
    row,
)


def test_outbound_answered_call() -> None:
    """A doorbell call out through the trunk: outbound, answered by the trunk, talk time."""
    r = fold("1.5", cel_rows(OUTBOUND), TRUNKS, end_seen=True)
    assert (r.direction, r.trunk, r.outcome) == ("outbound", "provider", "answered")
    assert (r.caller, r.callee, r.answered_by) == ("sipp", "20", "provider")
    assert (r.started, r.answered, r.ended) == (10.0, 10.6, 12.1)
    assert r.talk_s is not None
    assert abs(r.talk_s - 1.5) < 1e-9
    assert r.cause == 16
    assert r.end_seen
    assert not r.voicemail


def test_inbound_answered_by_a_phone() -> None:
    """A call from the trunk answered by phone1: inbound, the phone's endpoint answered."""
    r = fold("1.2", cel_rows(INBOUND), TRUNKS, end_seen=True)
    assert (r.direction, r.trunk, r.outcome) == ("inbound", "provider", "answered")
    assert (r.caller, r.callee, r.answered_by) == ("+4930555", "100", "phone1")


def test_busy_and_no_answer_come_from_the_dial_status() -> None:
    """Unanswered internal calls take Dial's status: BUSY -> busy, NOANSWER -> no_answer."""
    busy = fold("1.7", cel_rows(BUSY), TRUNKS, end_seen=True)
    assert (busy.direction, busy.trunk, busy.outcome, busy.cause) == ("internal", "", "busy", 17)
    assert busy.answered is None
    assert busy.talk_s is None
    ring = fold("1.1", cel_rows(NO_ANSWER), TRUNKS, end_seen=True)
    assert ring.outcome == "no_answer"


def test_voicemail_answered_call_is_marked() -> None:
    """A call the VoiceMail application answered and that left a message (the VOICEMAIL user
    event says SUCCESS): answered, voicemail left, nobody else answered."""
    r = fold("2.1", cel_rows(VOICEMAIL), TRUNKS, end_seen=True)
    assert (r.outcome, r.voicemail, r.answered_by) == ("answered", True, "")


def test_a_caller_who_leaves_no_message_is_not_marked() -> None:
    """VoiceMail answered but saved nothing (hung up in the greeting: VMSTATUS not SUCCESS, or
    no event at all): answered, no voicemail left."""
    failed = [(*r[:8], '{"extra":"FAILED"}') if r[0] == "VOICEMAIL" else r for r in VOICEMAIL]
    r = fold("2.1", cel_rows(failed), TRUNKS, end_seen=True)
    assert (r.outcome, r.voicemail) == ("answered", False)
    none = [r for r in VOICEMAIL if r[0] != "VOICEMAIL"]
    assert not fold("2.1", cel_rows(none), TRUNKS, end_seen=True).voicemail


def test_without_an_end_the_call_is_lost() -> None:
    """A call whose end the record never got is `lost`, whatever it did before."""
    r = fold("1.2", cel_rows(INBOUND[:4]), TRUNKS, end_seen=False)
    assert (r.direction, r.outcome, r.end_seen) == ("inbound", "lost", False)
    assert r.ended == 41.1  # its last event


def test_cause_decides_without_a_dial_and_bad_extra_is_ignored() -> None:
    """No Dial status: the Q.850 cause decides (16 before answer: cancelled); malformed
    eventextra and over-long numbers cannot break or bloat the row."""
    rows = [
        row("CHAN_START", 1.0, "3.1", "3.1", "PJSIP/desk-00000001", num="9" * 500, exten="11"),
        row("HANGUP", 2.0, "3.1", "3.1", "PJSIP/desk-00000001", extra="{not json"),
        row("HANGUP", 2.0, "3.1", "3.1", "PJSIP/desk-00000001", extra='{"hangupcause":16}'),
    ]
    r = fold("3.1", cel_rows(rows), {}, end_seen=True)
    assert (r.outcome, r.cause) == ("cancelled", 16)
    assert len(r.caller) == MAX_NUMBER
    only_garbage = fold("3.1", cel_rows(rows[:2]), {}, end_seen=True)
    assert only_garbage.outcome == "failed"
