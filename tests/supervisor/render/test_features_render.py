"""Phone feature codes in the rendered dialplan: keyed by the phone's own endpoint (set only on
authenticating phones), targets refused unless safe and short, forwards dialled in the phone's
own context, DND members left out of a group's Dial; nothing changes with the features off."""

from __future__ import annotations

import re

from supervisor import confparse
from supervisor.reload import conffile
from supervisor.render import RenderContext, render
from supervisor.render.callcheck import check
from tests.supervisor.render.special import special_matches
from tests.supervisor.site.flowsite import SECRETS as FLOW_SECRETS
from tests.supervisor.site.flowsite import flow_site
from tests.supervisor.site.sites import load_dict, load_text

CONTEXT = RenderContext(ami_secret="test-secret-0123")
SECRETS = {"desk-password": "d-secret", "lab-password": "l-secret", "desk-pin": "2468"}
SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
trunks:
  provider: {hosts: ["2001:db8:5060::10"], dids: ["+4930123456"]}
endpoints:
  desk:
    auth: {password_secret: desk-password}
    voicemail: {pin_secret: desk-pin}
  lab:
    auth: {password_secret: lab-password}
    context: local
    call_limit: 600
  bell:
    identify: ["2001:db8:e8b1::99"]
    context: doorbell
dialplan:
  extensions: {"11": desk, "12": lab, "20": team}
  ring_groups:
    team: {endpoints: [desk, lab], ring_time: 20}
  inbound: {"+4930123456": desk}
  outbound: [{pattern: _0X., trunk: provider}]
  doorbell: {ring: team}
"""


def files(text: str = SITE) -> dict[str, str]:
    return render(load_text(text, SECRETS), CONTEXT)


def apps(text: str, context: str, exten: str) -> list[str]:
    return conffile.dialplan(text).contexts[context][exten]


def test_only_authenticating_phones_carry_their_own_name() -> None:
    """PHONE_ENDPOINT=<own name> on desk and lab; the identified doorbell has none."""
    endpoints = conffile.objects(files()["pjsip.conf"], "endpoint")
    pjsip = files()["pjsip.conf"]
    assert "set_var = PHONE_ENDPOINT=desk\n" in pjsip
    assert "set_var = PHONE_ENDPOINT=lab\n" in pjsip
    assert "PHONE_ENDPOINT" not in str(endpoints["bell"])


def test_codes_refuse_other_channels_and_unsafe_or_long_targets() -> None:
    """Every code hangs up (21) a channel without PHONE_ENDPOINT first; *72NUMBER refuses
    anything but digits and *#+ (28) and a target over 20 characters; the key is the phone,
    and DND lights the phone's BLF hint dnd-NAME."""
    text = files()["extensions.conf"]
    for code in ("*78", "*79", "*72", "_*72X.", "*73", "*90", "_*90X.", "*91", "*52", "*53"):
        assert apps(text, "extensions", code)[0] == "ExecIf", code
    assert 'exten => *78,1,ExecIf($["${PHONE_ENDPOINT}"=""]?Hangup(21))' in text
    assert "same => n,Set(DB(supervisor-dnd/${PHONE_ENDPOINT})=1)" in text
    assert "same => n,Set(DEVICE_STATE(Custom:dnd-${PHONE_ENDPOINT})=INUSE)" in text
    # BLF: one hint per phone with the features.
    assert "exten => dnd-desk,hint,Custom:dnd-desk" in text
    assert "exten => dnd-lab,hint,Custom:dnd-lab" in text
    assert "dnd-bell" not in text
    block = text.split("exten => _*72X.,1,", 1)[1].split("exten =>", 1)[0]
    assert "Set(UNSAFE_REST=${REPLACE(EXTEN,0123456789*#+)})" in block
    assert "ExecIf($[${FIELDQTY(UNSAFE_REST,-)} > 0]?Hangup(28))" in block
    assert "Set(SAFE_FORWARD=${SAFE_NUMBER:3})" in block
    assert "> 20]?Hangup(28))" in block
    assert "Set(DB(supervisor-forward/${PHONE_ENDPOINT})=${SAFE_FORWARD})" in block


def test_a_phone_rings_through_its_subroutine_and_forwards_in_its_own_context() -> None:
    """Extensions, DIDs and the doorbell's group ring phone-NAME; a forward is a Local channel
    into the phone's context (lab: its limit- context), re-filtered from astdb, marked so it
    is not forwarded again."""
    text = files()["extensions.conf"]
    assert apps(text, "extensions", "11")[0] == "Gosub"
    assert "exten => 11,1,Gosub(phone-desk,s,1)" in text
    assert "exten => +4930123456,1,Gosub(phone-desk,s,1)" in text
    desk = text.split("[phone-desk]\n", 1)[1].split("\n\n", 1)[0]
    assert 'GotoIf($["${DB(supervisor-dnd/desk)}"="1"]?dnd)' in desk
    assert "Set(SAFE_FORWARD=${FILTER(0123456789*#+,${DB(supervisor-forward/desk)})})" in desk
    assert "same => n(forward),Set(__FLOW_FORWARDED=1)" in desk
    assert "Dial(Local/${SAFE_FORWARD}@internal)" in desk
    assert "Dial(PJSIP/desk,30)" in desk
    lab = text.split("[phone-lab]\n", 1)[1].split("\n\n", 1)[0]
    assert "Dial(Local/${SAFE_FORWARD}@limit-lab)" in lab
    assert "[phone-bell]" not in text


def test_a_group_leaves_out_members_with_dnd() -> None:
    """The group's Dial string is built from the members without DND; none left: no Dial."""
    text = files()["extensions.conf"]
    team = apps(text, "ring-team", "s")
    assert team[:5] == ["Set", "Set", "GotoIf", "Dial", "NoOp"]
    assert (
        'Set(FLOW_MEMBERS=${IF($["${DB(supervisor-dnd/desk)}"="1"]?:&PJSIP/desk)}'
        '${IF($["${DB(supervisor-dnd/lab)}"="1"]?:&PJSIP/lab)})'
    ) in text
    assert "Dial(${FLOW_MEMBERS:1},20)" in text


def test_the_rendered_features_pass_the_call_safety_check_and_match_no_special_name() -> None:
    """callcheck finds nothing, and no feature pattern catches h, i, t, T, ..."""
    items = confparse.parse(files()["extensions.conf"])
    assert check(items) == []
    assert special_matches(items) == []


def test_features_off_render_as_before() -> None:
    """`features: null`: plain Dial, no codes, no phone- contexts, no PHONE_ENDPOINT."""
    rendered = files(SITE + "  features: null\n")
    text = rendered["extensions.conf"]
    assert "exten => 11,1,Dial(PJSIP/desk,30)" in text
    assert "Dial(PJSIP/desk&PJSIP/lab,20)" in text
    assert "phone-" not in text
    assert "*78" not in text
    assert "PHONE_ENDPOINT" not in rendered["pjsip.conf"]


def test_a_code_turned_off_or_moved_renders_so() -> None:
    """A null code is not rendered; a moved one is rendered under its new number."""
    text = files(SITE + "  features: {dnd_on: '*11', forward_busy_on: null}\n")["extensions.conf"]
    assert "exten => *11,1," in text
    assert "exten => *78," not in text
    assert "*90," not in text
    assert "exten => *91,1," in text


def test_every_phone_subroutine_called_is_rendered_and_only_those() -> None:
    """On a site with every kind of flow, each Gosub(phone-X) has its [phone-X], and a phone
    nothing rings gets none (adding it changes pjsip.conf only)."""
    data = flow_site()
    data["endpoints"]["spare"] = {"auth": {"password_secret": "desk-password"}}
    rendered = render(load_dict(data, FLOW_SECRETS), CONTEXT)
    text = rendered["extensions.conf"]
    called = set(re.findall(r"Gosub\((phone-[^,]+),s,1\)", text))
    assert called
    assert called == set(re.findall(r"^\[(phone-[^\]]+)\]$", text, re.MULTILINE))
    assert "phone-spare" not in text
    assert "dnd-spare" not in text
    assert "set_var = PHONE_ENDPOINT=spare" in rendered["pjsip.conf"]
