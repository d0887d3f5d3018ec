"""Call flows in the site model: targets, time conditions, menus, announcements and their checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from supervisor.site.errors import SiteInvalid
from supervisor.site.flows import TargetRef, parse_target
from tests.supervisor.site.flowsite import SECRETS, flow_site
from tests.supervisor.site.sites import load_dict


def problems(site: dict[str, Any]) -> list[str]:
    with pytest.raises(SiteInvalid) as caught:
        load_dict(site, SECRETS)
    return [f"{p.key}: {p.message}" for p in caught.value.problems]


def test_flow_site_loads() -> None:
    """A site using every kind of flow, `any` and nested targets is valid."""
    site = load_dict(flow_site(), SECRETS).site
    assert site.dialplan.time_conditions["office"].open[0].end == "17:00"
    assert site.dialplan.inbound["any"] == "closed-message"


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("desk", TargetRef("name", "desk")),
        ("voicemail:desk", TargetRef("voicemail", "desk")),
        ("hangup", TargetRef("hangup", "normal")),
        ("hangup:busy", TargetRef("hangup", "busy")),
    ],
)
def test_target_forms(text: str, ref: TargetRef) -> None:
    """Each written form of a target parses to what it names."""
    assert parse_target(text) == ref


def test_bad_targets_are_located() -> None:
    """A malformed target, an unknown name, a box that does not exist: each at its own key."""
    site = flow_site()
    site["dialplan"]["menus"]["main"]["options"]["4"] = "voicemail:kitchen"
    site["dialplan"]["menus"]["main"]["options"]["5"] = "evryone"
    assert problems(site) == [
        "dialplan.menus.main.options.4: endpoint kitchen has no voicemail box",
        "dialplan.menus.main.options.5: unknown endpoint, ring group or flow 'evryone'; "
        "did you mean 'everyone'?",
    ]
    site = flow_site()
    site["dialplan"]["menus"]["main"]["options"]["3"] = "hangup:later"
    site["dialplan"]["inbound"]["+4930123456"] = "a b"
    found = problems(site)
    assert len(found) == 2, found
    assert found[0].startswith("dialplan.inbound.+4930123456: 'a b' is not a target")
    assert found[1].startswith("dialplan.menus.main.options.3: 'hangup:later' is not a target")


def test_loop_without_key_press_is_refused() -> None:
    """Flows that lead back to themselves without the caller pressing a key are refused."""
    site = flow_site()
    site["dialplan"]["announcements"]["closed-message"]["then"] = "office"
    site["dialplan"]["time_conditions"]["office"]["when_closed"] = "closed-message"
    found = problems(site)
    assert any("loops without the caller pressing a key: " in p for p in found), found


def test_menu_returning_to_itself_on_a_key_is_fine() -> None:
    """A menu option leading back to the menu needs a key press each time: not a loop."""
    site = flow_site()
    site["dialplan"]["menus"]["main"]["options"]["0"] = "main"
    load_dict(site, SECRETS)


def test_unreachable_flow_is_refused() -> None:
    """A flow nothing leads to is reported at its own key."""
    site = flow_site()
    site["dialplan"]["announcements"]["lonely"] = {"sound": "goodbye"}
    assert problems(site) == [
        "dialplan.announcements.lonely: unreachable: no inbound number, extension or other flow "
        "leads here"
    ]


def test_schedule_and_dates_are_checked() -> None:
    """Times out of order, bad dates, unknown zones and a never-open condition are refused."""
    site = flow_site()
    office = site["dialplan"]["time_conditions"]["office"]
    office["open"].append({"days": ["sat"], "start": "22:00", "end": "06:00"})
    office["holidays"] = ["2026-02-30", "2026-12-26..2026-12-24"]
    office["timezone"] = "Europe/Berlinn"
    found = problems(site)
    assert any("end 06:00 is not after start 22:00" in p for p in found), found
    assert any("holidays[0]: '2026-02-30' is not a date" in p for p in found), found
    assert any("holidays[1]: '2026-12-26..2026-12-24' ends before it starts" in p for p in found)
    assert any("timezone: 'Europe/Berlinn' is not in the time zone database" in p for p in found)
    site = flow_site()
    site["dialplan"]["time_conditions"]["office"]["open"] = []
    assert problems(site) == [
        "dialplan.time_conditions.office.open: no rule: it is never open (when_open could never "
        "be reached)"
    ]


def test_prompt_must_be_installed() -> None:
    """A prompt Asterisk does not ship would fail to play: refused at its key."""
    site = flow_site()
    site["dialplan"]["menus"]["main"]["greeting"] = "welcome-to-acme"
    assert problems(site) == [
        "dialplan.menus.main.greeting: unknown prompt (not among Asterisk's installed sounds) "
        "'welcome-to-acme'"
    ]


def test_override_code_and_names_do_not_collide() -> None:
    """A night-mode code equal to an extension, and a flow named like a phone, are refused."""
    site = flow_site()
    site["dialplan"]["time_conditions"]["office"]["override"] = "11"
    site["dialplan"]["menus"]["desk"] = copy.deepcopy(site["dialplan"]["menus"]["main"])
    site["dialplan"]["extensions"]["31"] = "desk"
    found = problems(site)
    assert "dialplan.time_conditions.office.override: 11 is also dialplan.extensions" in found
    assert "dialplan.menus.desk: 'desk' is also an endpoint's name" in found


def test_direct_dial_must_not_shadow_options() -> None:
    """With direct dialling, an extension starting with an option's digit is refused."""
    site = flow_site()
    site["dialplan"]["menus"]["main"]["direct_dial"] = True
    found = problems(site)
    assert any(
        p.startswith("dialplan.menus.main.direct_dial: extension 11 starts with option 1")
        for p in found
    )


def test_any_number_needs_no_did() -> None:
    """`any` routes numbers no trunk lists; a DID key still must be a trunk's."""
    site = flow_site()
    site["dialplan"]["inbound"]["+4930999"] = "desk"
    assert problems(site) == ["dialplan.inbound.+4930999: no trunk lists +4930999 in its dids"]
