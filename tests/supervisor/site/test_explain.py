"""`explain`: the path of a call from the model alone (the lab test checks it against Asterisk)."""

from __future__ import annotations

import datetime

import pytest

from supervisor.site.explain import dialled, explain, explain_extension, time_decision
from supervisor.site.model import Site
from tests.supervisor.site.flowsite import SECRETS, flow_site
from tests.supervisor.site.sites import load_dict

UTC = datetime.UTC


def site() -> Site:
    return load_dict(flow_site(), SECRETS).site


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def test_open_menu_press_group_then_voicemail() -> None:
    """Open hours, a press of 1: the group rings its members, then the desk's box."""
    result = explain(site(), "+4930123456", at=at("2026-12-07T10:15+00:00"), presses=["1"])
    assert result.rings() == [(("desk", "kitchen"), 10)]
    assert (result.outcome.kind, result.outcome.detail) == ("hangup", "16")


def test_menu_timeout_after_retries() -> None:
    """No digit: the greeting plays retries+1 times, then on_timeout rings the kitchen."""
    result = explain(site(), "+4930123456", at=at("2026-12-07T10:15+00:00"))
    assert [s.kind for s in result.steps].count("timeout") == 3
    assert result.rings() == [(("kitchen",), 30)]


def test_invalid_press_retries_then_valid() -> None:
    """A wrong digit replays the greeting; the next press counts."""
    result = explain(site(), "+4930123456", at=at("2026-12-07T10:15+00:00"), presses=["5", "9"])
    assert (result.outcome.kind, result.outcome.detail) == ("hangup", "17")


def test_closed_holiday_and_night() -> None:
    """Holidays and night mode close the condition whatever the hour; the rule is named."""
    holiday = explain(site(), "+4930123456", at=at("2026-12-25T10:00+00:00"))
    assert (holiday.outcome.kind, holiday.outcome.detail) == ("voicemail", "11")
    assert "holidays[0] 2026-12-24..2026-12-26" in holiday.steps[1].text
    night = explain(site(), "+4930123456", at=at("2026-12-07T10:15+00:00"), night=["office"])
    assert "night mode on" in night.steps[1].text


@pytest.mark.parametrize(
    ("utc", "is_open"),
    [
        # Berlin is UTC+1 in winter, UTC+2 in summer: 09:00 local is 08:00 or 07:00 UTC.
        ("2026-03-27T07:59", False),  # Friday before the change (UTC+1): 08:59 local
        ("2026-03-27T08:00", True),
        ("2026-03-30T06:59", False),  # Monday after it (UTC+2): 08:59 local
        ("2026-03-30T07:00", True),
        ("2026-03-30T14:59", True),  # 16:59 local
        ("2026-03-30T15:00", False),  # 17:00 local: the end is excluded
        ("2026-10-26T07:59", False),  # back to UTC+1
        ("2026-10-26T08:00", True),
    ],
)
def test_schedule_follows_daylight_saving(utc: str, is_open: bool) -> None:
    """The weekly rule is local time in the named zone, on both sides of each DST change."""
    condition = site().dialplan.time_conditions["office"]
    moment = at(utc).replace(tzinfo=UTC)
    assert time_decision(condition, moment)[0] is is_open


def test_any_number_and_unlisted() -> None:
    """An account name goes to the `any` route; a listed DID without a route too."""
    result = explain(site(), "pod1", trunk="provider", at=at("2026-12-07T10:15+00:00"))
    assert [s.kind for s in result.steps] == ["inbound", "announcement", "hangup"]
    assert result.outcome.detail == "21"


@pytest.mark.parametrize("number", ["h", "T", "x", "-1"])
def test_a_number_the_any_route_does_not_take_is_refused(number: str) -> None:
    """A single letter (Asterisk's special extensions) or an odd first character is not caught
    by the `any` route's patterns: Asterisk refuses the call, and explain says so."""
    result = explain(site(), number, trunk="provider", at=at("2026-12-07T10:15+00:00"))
    assert (result.outcome.kind, result.outcome.detail) == ("unrouted", "not found")


def test_extension_to_menu() -> None:
    """An internal extension leads to the same flows."""
    result = explain_extension(site(), "30", at=at("2026-12-07T10:15+00:00"), presses=["2"])
    assert (result.outcome.kind, result.outcome.detail) == ("voicemail", "11")


def test_a_longer_press_is_acted_on_as_asterisk_matches_digits() -> None:
    """A menu without direct dialling goes on at the first digit that matches an option (13
    takes option 1: nothing longer can match); a press no option starts with is invalid."""
    result = explain(site(), "+4930123456", at=at("2026-12-07T10:15+00:00"), presses=["13"])
    assert result.rings() == [(("desk", "kitchen"), 10)]
    (press,) = [s for s in result.steps if s.kind == "press"]
    assert press.text == "caller pressed 13 (acted on 1: 3 not waited for): everyone"
    invalid = explain(site(), "+4930123456", at=at("2026-12-07T10:15+00:00"), presses=["31"])
    assert next(s.text for s in invalid.steps if s.kind == "press").startswith(
        "caller pressed 31: invalid"
    )


@pytest.mark.parametrize(
    ("press", "extensions", "taken"),
    [
        ("13", {"1", "2"}, "1"),
        ("4", {"1", "2"}, ""),
        ("11", {"2", "11", "12"}, "11"),
        ("113", {"2", "11", "12"}, "11"),
        ("1", {"2", "11", "12"}, ""),
        ("13", {"1", "11", "12"}, ""),
    ],
)
def test_dialled_follows_asterisk_digit_matching(
    press: str, extensions: set[str], taken: str
) -> None:
    """A prefix with nothing longer to match is taken at once (the rest not waited for), one
    with longer candidates waits for the next digit, a dead end or an unfinished number is
    invalid."""
    assert dialled(press, extensions) == taken
