"""The one outcome rule shared by the live AMI view and the durable record."""

from __future__ import annotations

import pytest

from supervisor.ami.outcome import outcome, telling


def test_the_most_telling_dial_status_wins_over_parallel_legs() -> None:
    """ANSWER beats BUSY beats NOANSWER beats CANCEL beats the failures; unknown says nothing."""
    assert telling("BUSY", "NOANSWER") == "BUSY"
    assert telling("NOANSWER", "BUSY") == "BUSY"
    assert telling("ANSWER", "BUSY") == "ANSWER"
    assert telling("whatever", "CANCEL") == "CANCEL"
    assert telling("whatever", None) is None
    assert telling("CHANUNAVAIL", None) == "CHANUNAVAIL"


@pytest.mark.parametrize(
    ("lost", "answered", "dial", "cause", "expected"),
    [
        (True, True, "ANSWER", 16, "lost"),
        (False, True, None, None, "answered"),
        (False, False, "BUSY", 16, "busy"),
        (False, False, "CONGESTION", None, "failed"),
        (False, False, None, 17, "busy"),
        (False, False, None, 19, "no_answer"),
        (False, False, None, 16, "cancelled"),
        (False, False, None, 34, "failed"),
        (False, False, None, None, "failed"),
        (False, False, "", 0, "cancelled"),
    ],
)
def test_outcome(
    lost: bool, answered: bool, dial: str | None, cause: int | None, expected: str
) -> None:
    """Lost, then answered, then what Dial said, then the caller's Q.850 cause."""
    assert outcome(lost=lost, answered=answered, dial=dial, cause=cause) == expected
