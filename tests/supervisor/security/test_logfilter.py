"""Asterisk's per-request ACL refusal lines: dropped, counted, summarised once per interval."""

from __future__ import annotations

import logging

import pytest

from supervisor.security.logfilter import RefusalSummary

REFUSED = (
    "[2026-11-29 09:24:15.328] WARNING[32322]: res_pjsip_acl.c:158 apply_acl: Incoming SIP "
    "message from 198.51.100.66:5060 did not pass ACL test"
)
REJECTING = (
    "[2026-11-29 09:24:15.328] NOTICE[32322]: acl.c:783 ast_apply_acl_internal: SIP ACL: "
    "Rejecting '198.51.100.66' due to a failure to pass ACL '(BASELINE)'"
)
OTHER = (
    "[2026-11-29 09:24:15.328] NOTICE[1]: res_pjsip/pjsip_distributor.c:676 No matching endpoint"
)


def record(text: str) -> logging.LogRecord:
    return logging.LogRecord("asterisk", logging.INFO, __file__, 1, "%s", (text,), None)


def test_refusals_are_dropped_counted_and_summarised(caplog: pytest.LogCaptureFixture) -> None:
    """Both lines of a refusal are dropped, each refusal counted, one summary per interval;
    other Asterisk lines pass."""
    now = [0.0]
    counted = []
    summary = RefusalSummary(
        interval=60.0, on_refused=lambda: counted.append(1), clock=lambda: now[0]
    )
    caplog.set_level(logging.INFO, "supervisor.security")
    for second in range(120):
        now[0] = float(second)
        assert summary.filter(record(REJECTING)) is False
        assert summary.filter(record(REFUSED)) is False
    assert summary.filter(record(OTHER)) is True
    assert len(counted) == 120
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert lines == [
        "Asterisk refused 61 SIP request(s) from blocked sources in the last 60 s "
        "(its per-request lines are counted, not shown)"
    ]
