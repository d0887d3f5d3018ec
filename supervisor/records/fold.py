"""Fold the CEL events of one call (one linkedid) into its history row (pure).

The rules are the AMI view's (supervisor.ami.calls), applied to Asterisk's own record, so the
live gauges and the recorded history say the same of a call (a lab test compares the two):
- direction and trunk: the calling channel's (Uniqueid == Linkedid) endpoint is a trunk:
  inbound; else the first other channel on a trunk: outbound; else internal;
- outcome: `lost` when the record has no end (LINKEDID_END) and Asterisk no longer has the call;
  `answered` when the calling channel was answered; else the most telling Dial status of any
  leg (HANGUP's `dialstatus`); else the calling channel's Q.850 cause; else `failed`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from supervisor.ami.calls import pjsip_endpoint
from supervisor.ami.outcome import outcome, telling
from supervisor.records.schema import VOICEMAIL_EVENT

#: Longest caller/callee kept: a number or extension, never a payload.
MAX_NUMBER: Final = 64


@dataclass(frozen=True, slots=True)
class CelRow:
    """One row of the `cel` table (schema.CEL_COLUMNS)."""

    eventtype: str
    eventtime: float
    cidnum: str
    exten: str
    channame: str
    appname: str
    uniqueid: str
    linkedid: str
    extra: str


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One ended call, as the `calls` table holds it (schema.CALL_COLUMNS). Times are seconds
    since the epoch; `answered` None: never answered; `end_seen` False: `lost`."""

    linkedid: str
    started: float
    answered: float | None
    ended: float
    direction: str
    trunk: str
    caller: str
    callee: str
    answered_by: str
    outcome: str
    cause: int | None
    voicemail: bool
    end_seen: bool

    @property
    def key(self) -> tuple[str, str, str]:
        """The `asterisk_supervisor_calls_total` labels (direction, trunk, outcome)."""
        return (self.direction, self.trunk, self.outcome)

    @property
    def talk_s(self) -> float | None:
        return None if self.answered is None else max(self.ended - self.answered, 0.0)


def fold(
    linkedid: str, rows: Sequence[CelRow], trunks: Mapping[str, str], *, end_seen: bool
) -> CallRecord:
    """The history row of the call `linkedid` from its CEL rows in record order (non-empty);
    `trunks` maps trunk endpoint -> trunk name; `end_seen`: the record holds its LINKEDID_END."""
    started = min(r.eventtime for r in rows)
    ended = max(r.eventtime for r in rows)
    caller = callee = answered_by = ""
    origin: str | None = None
    trunk_endpoint: str | None = None
    answered: float | None = None
    voicemail = False
    dial = ""
    cause: int | None = None
    for row in rows:
        own = row.uniqueid == linkedid
        endpoint = pjsip_endpoint(row.channame)
        if row.eventtype == "CHAN_START":
            if own:
                started, origin = row.eventtime, endpoint
                caller, callee = row.cidnum[:MAX_NUMBER], row.exten[:MAX_NUMBER]
            elif endpoint in trunks and trunk_endpoint is None:
                trunk_endpoint = endpoint
        elif row.eventtype == "ANSWER":
            if own and answered is None:
                answered = row.eventtime
            elif not own and not answered_by and endpoint is not None:
                answered_by = trunks.get(endpoint, endpoint)
        elif row.eventtype == VOICEMAIL_EVENT and own:
            # A message really left: VoiceMail() saved one (VMSTATUS SUCCESS), not a caller
            # who reached the box and hung up during the greeting.
            voicemail = voicemail or _user_extra(row.extra) == "SUCCESS"
        elif row.eventtype == "HANGUP":
            extra = _extra(row.extra)
            status = extra.get("dialstatus")
            if isinstance(status, str):
                dial = telling(status, dial) or ""
            code = extra.get("hangupcause")
            if own and isinstance(code, int) and 0 <= code <= 127:
                cause = code
    if origin is not None and origin in trunks:
        direction, trunk = "inbound", trunks[origin]
    elif trunk_endpoint is not None:
        direction, trunk = "outbound", trunks[trunk_endpoint]
    else:
        direction, trunk = "internal", ""
    ended_as = outcome(lost=not end_seen, answered=answered is not None, dial=dial, cause=cause)
    return CallRecord(
        linkedid=linkedid,
        started=started,
        answered=answered,
        ended=ended,
        direction=direction,
        trunk=trunk,
        caller=caller,
        callee=callee,
        answered_by=answered_by,
        outcome=ended_as,
        cause=cause,
        voicemail=voicemail,
        end_seen=end_seen,
    )


def _user_extra(text: str) -> str:
    """A user event's extra: Asterisk writes `{"extra":"SUCCESS"}` (or the bare text)."""
    value = _extra(text).get("extra", text if not text.startswith("{") else "")
    return value.strip() if isinstance(value, str) else ""


def _extra(text: str) -> dict[str, object]:
    """HANGUP's `eventextra` JSON (`{"hangupcause":16,"dialstatus":"ANSWER",...}`) or {}."""
    if not text or len(text) > 4096:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
