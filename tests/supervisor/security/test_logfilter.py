"""Asterisk's per-request ACL refusal lines: dropped, counted, summarised once per interval."""

from __future__ import annotations

import logging

import pytest

from supervisor.security.logfilter import (
    FailedRequestSummary,
    LineScreen,
    RefusalSummary,
    RelayLimiter,
    classify,
)

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


FAILED = (
    "[Dec  6 18:04:01] NOTICE[4711]: res_pjsip/pjsip_distributor.c:676 log_failed_request: "
    "Request 'REGISTER' from '<sip:u1@[2001:db8::1]>' failed for '[2001:db8:c000::1]:5060' "
    "(callid: 5d1c) - {}"
)


def test_failed_request_lines_are_counted_by_reason_and_summarised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """res_pjsip's per-request failure lines are taken and counted by a bounded reason, one
    summary per interval; a line with the same words later in it (attacker text) is not."""
    now = [0.0]
    reasons: list[str] = []
    summary = FailedRequestSummary(interval=60.0, on_failed=reasons.append, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "supervisor.security")
    for second in range(61):
        now[0] = float(second)
        assert summary.take(FAILED.format("No matching endpoint found"))
    assert summary.take(FAILED.format("Failed to authenticate"))
    assert summary.take(FAILED.format("No matching endpoint found after 5 tries in 2.1 ms"))
    assert summary.take(FAILED.format("<script>"))
    assert not summary.take(OTHER)
    assert not summary.take(OTHER + " " * 200 + "x log_failed_request: Request 'X'")
    assert reasons == ["no_matching_endpoint"] * 61 + [
        "failed_to_authenticate",
        "no_matching_endpoint",
        "other",
    ]
    lines = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("Asterisk rejected 61 SIP request(s) in the last 60 s")


def test_screen_counts_refusals_and_failures_and_rate_limits_the_rest() -> None:
    """The screen counts a refusal's two lines and failed-request lines (None: not logged),
    and gives other lines to the rate limiter, escaped; over budget, None as well."""
    refused: list[int] = []
    failed: list[str] = []
    dropped: list[int] = []
    screen = LineScreen(
        RefusalSummary(on_refused=lambda: refused.append(1)),
        FailedRequestSummary(on_failed=failed.append),
        RelayLimiter(on_dropped=lambda: dropped.append(1), clock=lambda: 0.0),
    )
    assert screen(REFUSED) is None
    assert screen(REJECTING) is None
    assert screen(FAILED.format("Failed to authenticate")) is None
    assert screen(OTHER + "\x1b[31m") == OTHER + "\\x1b[31m"
    relayed = [screen(OTHER) for _ in range(100)]
    assert (len(refused), failed) == (1, ["failed_to_authenticate"])
    assert relayed.count(None) == len(dropped) > 0


def limiter(clock: list[float]) -> tuple[RelayLimiter, list[int]]:
    dropped: list[int] = []
    return RelayLimiter(on_dropped=lambda: dropped.append(1), clock=lambda: clock[0]), dropped


def pj_line(source: str, what: str = "Error processing packet from") -> str:
    return (
        f"[Dec  6 04:52:03] ERROR[17077]: pjproject: <?>: \t sip_endpoint.c {what} "
        f"{source}:51032: Missing required header(s) (PJSIP_EMISSINGHDR)  CSeq [code 171050]:"
    )


def test_a_flood_of_one_kind_from_one_source_is_limited_and_counted() -> None:
    """Per kind and source: a burst of 20, then 10 a minute; the packet dump after a dropped
    header line is dropped with it; every dropped line counted; another source still passes."""
    clock = [0.0]
    f, dropped = limiter(clock)
    passed = 0
    for i in range(1000):
        clock[0] = i * 0.001
        passed += f.filter(record(pj_line("2001:db8:bad::66")))
        passed += f.filter(record(f"EVIL PAYLOAD {i}"))  # continuation: the attacker's bytes
    assert passed == 40  # 20 headers, each with its continuation line
    assert len(dropped) == 2000 - 40
    assert f.filter(record(pj_line("203.0.113.9")))
    clock[0] = 61.0  # a minute later: ten more
    assert sum(f.filter(record(pj_line("2001:db8:bad::66"))) for _ in range(30)) == 10


def test_many_sources_are_bounded_overall(caplog: pytest.LogCaptureFixture) -> None:
    """10,000 sources one line each within a second: at most the overall burst (200) passes,
    the buckets stay bounded, and one summary line says how many were dropped."""
    clock = [0.0]
    f, dropped = limiter(clock)
    caplog.set_level(logging.WARNING, "supervisor.security")
    passed = sum(f.filter(record(pj_line(f"2001:db8:{i:x}::1"))) for i in range(10_000))
    assert passed <= 200 + 1
    assert len(f._buckets) <= 1024
    clock[0] = 61.0
    f.filter(record(OTHER))
    (summary,) = [r.getMessage() for r in caplog.records if "not relayed" in r.getMessage()]
    assert summary.startswith(f"{len(dropped)} Asterisk log line(s) not relayed")


def test_attacker_text_is_escaped_and_truncated() -> None:
    """Terminal escapes and control bytes become \\xNN; a long line is cut at 300 characters."""
    clock = [0.0]
    f, _ = limiter(clock)
    rec = record(pj_line("198.51.100.66") + "\x1b[31mred\x00" + "A" * 1000)
    assert f.filter(rec)
    text = rec.getMessage()
    assert "\x1b" not in text
    assert "\x00" not in text
    assert "\\x1b[31mred\\x00" in text or text.endswith("more characters)")
    assert len(text) < 360
    assert text.endswith("more characters)")


def test_the_kind_ignores_numbers_and_the_source_is_the_first_address() -> None:
    """Thread ids, ports and byte counts do not make new kinds; the source is the address."""
    a = classify(pj_line("2001:db8:bad::66", "Dropping 58 bytes packet from UDP"))
    b = classify(pj_line("2001:db8:bad::66", "Dropping 9999 bytes packet from UDP"))
    assert a == b
    assert a is not None
    assert a[1] == f"{0x20010DB80BAD0000:x}::/64"
    assert classify("OPTIONS sip:a SIP/2.0") is None
