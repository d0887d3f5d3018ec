"""Phone feature codes in the rendered dialplan: keyed by the phone's own endpoint (set only on
authenticating phones), targets refused unless safe and short, forwards dialled in the phone's
own context, DND members left out of a group's Dial; nothing changes with the features off."""

from __future__ import annotations

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


def test_a_phone_rings_through_the_subroutine_and_forwards_in_its_own_context() -> None:
    """Extensions and DIDs name the phone and its own context (lab: its limit- context), then
    call supervisor-phone, which checks DND, re-filters the forward from astdb, marks a
    forwarded call so it is not forwarded again, and dials it in that context."""
    text = files()["extensions.conf"]
    desk = ["Set(FLOW_PHONE=desk)", "Set(FLOW_PHONE_CONTEXT=internal)"]
    ring = "Gosub(supervisor-phone,s,1)"
    assert f"exten => 11,1,{desk[0]}\nsame => n,{desk[1]}\nsame => n,{ring}" in text
    assert f"exten => +4930123456,1,{desk[0]}\nsame => n,{desk[1]}" in text
    assert "exten => 12,1,Set(FLOW_PHONE=lab)\nsame => n,Set(FLOW_PHONE_CONTEXT=limit-lab)" in text
    sub = text.split("[supervisor-phone]\n", 1)[1].split("\n\n", 1)[0]
    assert 'exten => s,1,GotoIf($["${DB(supervisor-dnd/${FLOW_PHONE})}"="1"]?dnd)' in sub
    filtered = "Set(SAFE_FORWARD=${FILTER(0123456789*#+,${DB(supervisor-forward/${FLOW_PHONE})})})"
    assert filtered in sub
    assert "same => n(forward),Set(__FLOW_FORWARDED=1)" in sub
    assert "Dial(Local/${SAFE_FORWARD}@${FLOW_PHONE_CONTEXT})" in sub
    assert "same => n(ring),Dial(PJSIP/${FLOW_PHONE},30)" in sub
    assert "FLOW_PHONE=bell" not in text


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
    """`features: null`: plain Dial, no codes, no subroutine, no PHONE_ENDPOINT."""
    rendered = files(SITE + "  features: null\n")
    text = rendered["extensions.conf"]
    assert "exten => 11,1,Dial(PJSIP/desk,30)" in text
    assert "Dial(PJSIP/desk&PJSIP/lab,20)" in text
    assert "supervisor-phone" not in text
    assert "FLOW_PHONE" not in text
    assert "*78" not in text
    assert "PHONE_ENDPOINT" not in rendered["pjsip.conf"]


def test_a_code_turned_off_or_moved_renders_so() -> None:
    """A null code is not rendered; a moved one is rendered under its new number."""
    text = files(SITE + "  features: {dnd_on: '*11', forward_busy_on: null}\n")["extensions.conf"]
    assert "exten => *11,1," in text
    assert "exten => *78," not in text
    assert "*90," not in text
    assert "exten => *91,1," in text


def test_a_phone_nothing_rings_changes_no_dialplan() -> None:
    """On a site with every kind of flow, a phone no route rings gets no DND hint and no ring
    (adding it changes pjsip.conf only), but can still set its state."""
    data = flow_site()
    before = render(load_dict(data, FLOW_SECRETS), CONTEXT)
    data["endpoints"]["spare"] = {"auth": {"password_secret": "desk-password"}}
    rendered = render(load_dict(data, FLOW_SECRETS), CONTEXT)
    assert rendered["extensions.conf"] == before["extensions.conf"]
    assert "set_var = PHONE_ENDPOINT=spare" in rendered["pjsip.conf"]
