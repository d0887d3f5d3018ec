"""How a call ended, from what Dial and the hang-up said: one rule for the live AMI view
(ami/calls.py) and for the durable record (records/fold.py), so both count a call the same."""

from __future__ import annotations

from typing import Final

# Dial results by how much they say about the call: one ANSWER among parallel legs decides;
# a BUSY leg says more than a leg that rang out; CANCEL means the caller gave up.
_DIAL_RANK: Final = {
    "ANSWER": 6,
    "BUSY": 5,
    "NOANSWER": 4,
    "CANCEL": 3,
    "CONGESTION": 2,
    "CHANUNAVAIL": 1,
}
_DIAL_OUTCOME: Final = {
    "ANSWER": "answered",
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CANCEL": "cancelled",
    "CONGESTION": "failed",
    "CHANUNAVAIL": "failed",
}
# Q.850 causes of the calling channel when no Dial said anything.
_CAUSE_OUTCOME: Final = {
    17: "busy",  # user busy
    18: "no_answer",  # no user responding
    19: "no_answer",  # no answer from user
    16: "cancelled",  # normal clearing before answer: the caller hung up
    0: "cancelled",
}


def telling(status: str, current: str | None) -> str | None:
    """Of a leg's DialStatus and the call's current one, the one that says more (unknown
    statuses say nothing)."""
    if _DIAL_RANK.get(status, 0) > _DIAL_RANK.get(current or "", 0):
        return status
    return current


def outcome(*, lost: bool, answered: bool, dial: str | None, cause: int | None) -> str:
    """The call's outcome label: lost, answered, else what Dial said, else the caller's cause."""
    if lost:
        return "lost"
    if answered:
        return "answered"
    if dial in _DIAL_OUTCOME:
        return _DIAL_OUTCOME[dial]
    return _CAUSE_OUTCOME.get(cause if cause is not None else -1, "failed")
