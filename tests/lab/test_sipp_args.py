"""The one phone argv of the lab (lab.sipp.phone_args)."""

from __future__ import annotations

from lab import sipp


def test_a_phone_calls_one_service_with_digest_auth_and_a_bounded_wait() -> None:
    """Target first (sipp's rule), one call from the source on any port, credentials, the extra
    options before the timeout, and a timeout that is an error."""
    args = sipp.phone_args(
        "[2001:db8::1]:5060",
        "/s/phone.xml",
        service="12",
        user="desk",
        password="pw",
        source="2001:db8::21",
        timeout_s=40,
        extra=["-d", "500"],
    )
    assert args == [
        "[2001:db8::1]:5060",
        "-sf",
        "/s/phone.xml",
        "-s",
        "12",
        "-au",
        "desk",
        "-ap",
        "pw",
        "-i",
        "2001:db8::21",
        "-p",
        "0",
        "-m",
        "1",
        "-d",
        "500",
        "-timeout",
        "40s",
        "-timeout_error",
    ]
