"""The history's shape for people: spans, cursors, JSON and the terminal table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from supervisor.records import history
from supervisor.records.fold import fold
from tests.supervisor.records.cel import INBOUND, TRUNKS, cel_rows

CALL = fold("1.2", cel_rows(INBOUND), TRUNKS, end_seen=True)


def test_since_spans_and_iso_times() -> None:
    """Spans count back from now; an ISO time without a zone is UTC; anything else is refused
    with the accepted forms."""
    assert history.parse_since("90s", 1000.0) == 910.0
    assert history.parse_since("1d", 100000.0) == 100000.0 - 86400
    assert history.parse_since("2026-12-06T00:00:00", 0) == 1796515200.0
    assert history.parse_since("2026-12-06T01:00:00+01:00", 0) == 1796515200.0
    with pytest.raises(ValueError, match="span"):
        history.parse_since("yesterday", 0)


def test_cursor_round_trip_and_forged_cursors() -> None:
    """A page's cursor reads back exactly; a forged one is refused."""
    assert history.parse_cursor(history.cursor(CALL)) == (CALL.ended, CALL.linkedid)
    for bad in ("", "12", "nan~1.2", "1~x' OR 1=1", "1~" + "9" * 65):
        with pytest.raises(ValueError, match="cursor"):
            history.parse_cursor(bad)


def test_number_filter_is_a_number() -> None:
    """Numbers, extensions and SIP users pass; quotes, spaces and control characters do not."""
    assert history.parse_number("+4930123456") == "+4930123456"
    for bad in ("", "1 2", "a'b", "\x1b[2J", "9" * 65):
        with pytest.raises(ValueError, match="number"):
            history.parse_number(bad)


def test_json_shape() -> None:
    """One call in JSON: UTC times, from/to, who answered, talk and total seconds, outcome."""
    assert history.as_dict(CALL) == {
        "id": "1.2",
        "started": "1970-01-01T00:00:40Z",
        "ended": "1970-01-01T00:00:45Z",
        "direction": "inbound",
        "trunk": "provider",
        "from": "+4930555",
        "to": "100",
        "answered_by": "phone1",
        "duration_s": 5.1,
        "talk_s": 4.0,
        "outcome": "answered",
        "voicemail": False,
    }


def test_table_is_aligned_and_terminal_safe() -> None:
    """The text table has one line per call under a header, and a caller ID carrying terminal
    escape sequences prints as harmless text."""
    hostile = replace(CALL, caller="\x1b]0;owned\x07+49", voicemail=True)
    text = history.table([CALL, hostile])
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["time", "(UTC)", "direction"]
    assert "1970-01-01 00:00:40" in lines[1]
    assert "phone1" in lines[1]
    assert "0:04" in lines[1]
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "answered (voicemail)" in lines[2]
    assert history.table([]) == "no calls\n"
