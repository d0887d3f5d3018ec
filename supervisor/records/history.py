"""The call history as people read it: one shape for `asterisk-supervisor calls`, `/calls` and
the page (pure). Caller numbers are personal data: they appear here and nowhere else (never in
logs or metric labels)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from supervisor.records.fold import CallRecord
from supervisor.records.store import Query

_SPAN = re.compile(r"(\d{1,6})([smhdw])")
_UNIT: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LINKEDID = re.compile(r"[0-9A-Za-z._-]{1,64}")
_NUMBER = re.compile(r"[0-9A-Za-z+*#._@-]{1,64}")


def parse_since(text: str, now: float) -> float:
    """`1d`, `12h`, `30m`, `90s`, `2w` ago, or an ISO 8601 time (UTC when it has no zone):
    epoch seconds. ValueError says what is accepted."""
    match = _SPAN.fullmatch(text.strip())
    if match:
        return now - int(match.group(1)) * _UNIT[match.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"since: {text[:40]!r} is neither a span (90s, 30m, 12h, 1d, 2w) nor an ISO time"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_number(text: str) -> str:
    """A number or extension to look for as caller or callee (ValueError if it cannot be one)."""
    if not _NUMBER.fullmatch(text):
        raise ValueError("number: up to 64 of 0-9 A-Z a-z + * # . _ @ -")
    return text


def cursor(record: CallRecord) -> str:
    """Where the next page starts: after this call."""
    return f"{record.ended!r}~{record.linkedid}"


def parse_cursor(text: str) -> tuple[float, str]:
    ended, sep, linkedid = text.partition("~")
    try:
        value = float(ended)
    except ValueError:
        value = float("nan")
    if not sep or value != value or not _LINKEDID.fullmatch(linkedid):
        raise ValueError("before: not a cursor given by a previous page")
    return value, linkedid


def query(
    *,
    since: str | None,
    number: str | None,
    limit: int,
    before: str | None = None,
    now: float | None = None,
) -> Query:
    """A store query from the user's words (ValueError names the bad one)."""
    at = time.time() if now is None else now
    return Query(
        since=None if since is None else parse_since(since, at),
        number=None if number is None else parse_number(number),
        limit=limit,
        before=None if before is None else parse_cursor(before),
    )


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def as_dict(record: CallRecord) -> dict[str, object]:
    """One call for JSON: times in UTC ISO 8601, durations in seconds."""
    talk = record.talk_s
    return {
        "id": record.linkedid,
        "started": iso(record.started),
        "ended": iso(record.ended),
        "direction": record.direction,
        "trunk": record.trunk or None,
        "from": record.caller,
        "to": record.callee,
        "answered_by": record.answered_by or None,
        "duration_s": round(max(record.ended - record.started, 0.0), 1),
        "talk_s": None if talk is None else round(talk, 1),
        "outcome": record.outcome,
        "voicemail": record.voicemail,
    }


COLUMNS: Final = (
    "time (UTC)",
    "direction",
    "trunk",
    "from",
    "to",
    "answered by",
    "talk",
    "outcome",
)


def _clean(text: str) -> str:
    """What a terminal shows safely: printable, no escape sequences."""
    return "".join(c if c.isprintable() else "?" for c in text)


def rows(records: Sequence[CallRecord]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for r in records:
        talk = r.talk_s
        outcome = r.outcome + (" (voicemail)" if r.voicemail else "")
        out.append(
            (
                datetime.fromtimestamp(r.started, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                r.direction,
                _clean(r.trunk) or "-",
                _clean(r.caller) or "-",
                _clean(r.callee) or "-",
                _clean(r.answered_by) or "-",
                "-" if talk is None else f"{int(talk) // 60}:{int(talk) % 60:02d}",
                outcome,
            )
        )
    return out


def table(records: Sequence[CallRecord]) -> str:
    """An aligned text table, newest first; a line saying so when there is none."""
    if not records:
        return "no calls\n"
    lines: list[tuple[str, ...]] = [COLUMNS, *rows(records)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in lines
    )
