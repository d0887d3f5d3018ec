"""Rendering call flows: each flow's context, the inbound `any` route, the night-mode code and
its hint, the modules the flows' applications need."""

from __future__ import annotations

from supervisor.render import RenderContext, render
from supervisor.render.flows import weekly_spec
from supervisor.site.load import LoadedSite
from tests.supervisor.site.flowsite import SECRETS, flow_site
from tests.supervisor.site.sites import load_dict

CONTEXT = RenderContext(ami_secret="test-secret-0123")


def loaded() -> LoadedSite:
    return load_dict(flow_site(), SECRETS)


def context(text: str, name: str) -> list[str]:
    """The lines of context `name` in an extensions.conf text."""
    lines = text.split(f"[{name}]\n", 1)[1].split("\n\n", 1)[0]
    return lines.splitlines()


def test_time_condition_context() -> None:
    """Night mode first, then holidays by local date, then each rule with the zone; else closed."""
    text = render(loaded(), CONTEXT)["extensions.conf"]
    assert context(text, "time-office") == [
        'exten => s,1,GotoIf($["${DB(supervisor-night/office)}"="1"]?closed,1)',
        "same => n,Set(FLOW_DAY=${STRFTIME(${EPOCH},Europe/Berlin,%Y%m%d)})",
        "same => n,GotoIf($[${FLOW_DAY}>=20261224&${FLOW_DAY}<=20261226]?closed,1)",
        "same => n,GotoIfTime(09:00-16:59,mon&tue&wed&thu&fri,*,*,Europe/Berlin?open,1)",
        "same => n,Goto(closed,1)",
        "exten => open,1,Goto(menu-main,s,1)",
        "exten => closed,1,Set(CHANNEL(hangup_handler_push)=supervisor-voicemail,s,1)",
        "same => n,VoiceMail(11@default,u)",
        "same => n,Hangup()",
    ]


def test_weekly_spec_ends_a_minute_early() -> None:
    """Asterisk's time ranges include their last minute: [start, end) ends at end - 1 minute."""
    assert weekly_spec("00:00", "24:00", ("sat",), "UTC") == "00:00-23:59,sat,*,*,UTC"
    assert weekly_spec("09:30", "12:00", ("mon", "tue"), "UTC") == "09:30-11:59,mon&tue,*,*,UTC"


def test_menu_context_retries_and_targets() -> None:
    """Greeting then WaitExten; digits go to their targets; i and t count one shared retry."""
    text = render(loaded(), CONTEXT)["extensions.conf"]
    lines = context(text, "menu-main")
    assert lines[:4] == [
        "exten => s,1,Answer()",
        "same => n,Set(FLOW_TRIES=0)",
        "same => n(again),Background(hours)",
        "same => n,WaitExten(5)",
    ]
    assert "exten => 1,1,Goto(ring-everyone,s,1)" in lines
    assert "exten => 9,1,Hangup(17)" in lines
    assert "same => n,GotoIf($[${FLOW_TRIES}<=2]?s,again)" in lines
    assert lines[-4:] == [
        "same => n,Set(FLOW_PHONE=kitchen)",
        "same => n,Set(FLOW_PHONE_CONTEXT=internal)",
        "same => n,Gosub(supervisor-phone,s,1)",
        "same => n,Hangup()",
    ]


def test_inbound_any_and_night_code() -> None:
    """`any` catches every other number (and `h` is kept from re-running the flow); the night
    code toggles astdb and the BLF state."""
    files = render(loaded(), CONTEXT)
    trunk = context(files["extensions.conf"], "from-provider")
    assert trunk[0] == "exten => +4930123456,1,Goto(time-office,s,1)"
    assert "exten => any,1,Goto(announce-closed-message,s,1)" in trunk
    # Single priorities: after a hang-up the pattern must not run the route again as `h`.
    assert trunk[-4:] == [
        "exten => _[0-9*#+]!,1,Goto(any,1)",
        "exten => _[a-zA-Z][0-9a-zA-Z*#+]!,1,Goto(any,1)",
        "exten => s,1,Goto(any,1)",
        "exten => h,1,NoOp()",
    ]
    phones = context(files["extensions.conf"], "extensions")
    assert "exten => *31,hint,Custom:night-office" in phones
    assert "same => n,Set(DB(supervisor-night/office)=1)" in phones
    for module in ("app_playback.so", "func_db.so", "func_strings.so", "func_devstate.so"):
        assert f"load = {module}" in files["modules.conf"]


def test_no_flows_no_flow_modules() -> None:
    """A site without flows loads none of their modules (nothing changes for it)."""
    site = flow_site()
    plan = site["dialplan"]
    for key in ("menus", "time_conditions", "announcements"):
        del plan[key]
    plan["inbound"] = {"+4930123456": "everyone"}
    plan["extensions"].pop("30")
    plan["features"] = None  # the feature codes play prompts too (tests/.../test_features_render)
    files = render(load_dict(site, SECRETS), CONTEXT)
    assert "app_playback.so" not in files["modules.conf"]
