"""Rendering voicemail: voicemail.conf boxes and limits, fallbacks in the dialplan per extension and
ring group, MWI on the phones' endpoints and AORs, the module list and the reload map."""

from __future__ import annotations

from supervisor.reload import conffile
from supervisor.render import MODULE_OF_FILE, SECRET_FILES, RenderContext, render
from supervisor.render.core import modules
from supervisor.site.load import load_site
from tests.supervisor.site.sites import config_mount, secret_mount

SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
endpoints:
  desk:
    auth: {password_secret: desk-password}
    voicemail: {pin_secret: desk-pin}
  kitchen:
    auth: {password_secret: kitchen-password}
dialplan:
  extensions:
    "11": desk
    "12": kitchen
    "13": {ring: desk, voicemail: false}
    "20": all
    "21": {ring: all, voicemail: false}
  ring_groups:
    all: {endpoints: [desk, kitchen], voicemail: desk}
voicemail:
  max_message_s: 120
"""
SECRETS = {"desk-password": "d-secret", "kitchen-password": "k-secret", "desk-pin": "864209"}
CONTEXT = RenderContext(ami_secret="test-secret-0123")


def files(text: str = SITE) -> dict[str, str]:
    loaded = load_site([config_mount(("site.yaml", text))], [secret_mount(SECRETS)])
    return render(loaded, CONTEXT)


def apps(text: str, context: str, exten: str) -> list[str]:
    return conffile.dialplan(text).contexts[context][exten]


def test_voicemail_conf_has_exactly_the_boxes_and_limits() -> None:
    """One `number => pin,name` line per box in [default]; limits from the site in [general]."""
    sections = {s.name: s for s in conffile.parse(files()["voicemail.conf"])}
    assert set(sections) == {"general", "default"}
    assert sections["default"].options == [("11", "864209,desk")]
    general = dict(sections["general"].options)
    assert (general["format"], general["maxsecs"], general["maxmsg"]) == ("wav", "120", "100")
    assert general["attach"] == "no"  # no mail relay in the pod


def test_pin_appears_only_in_voicemail_conf_which_is_a_secret_file() -> None:
    """The PIN is written to voicemail.conf only, and that file is written like a secret."""
    rendered = files()
    assert [n for n, t in rendered.items() if "864209" in t] == ["voicemail.conf"]
    assert "voicemail.conf" in SECRET_FILES
    assert MODULE_OF_FILE["voicemail.conf"] == "app_voicemail.so"


def test_fallbacks_per_extension_and_ring_group() -> None:
    """No answer or busy ends in the target's box unless the extension turns it off."""
    text = files()["extensions.conf"]
    leave = ["GotoIf", "Set", "VoiceMail", "Hangup", "Set", "VoiceMail", "Hangup"]
    # Phones ring through the feature subroutine; a group builds its members' Dial first.
    ring = ["Set", "Set", "Gosub"]
    group = ["Set", "Set", "GotoIf", "Dial", "NoOp"]
    assert apps(text, "extensions", "11") == [*ring, *leave]
    assert apps(text, "extensions", "12") == [*ring, "Hangup"]  # kitchen has no box
    assert apps(text, "extensions", "13") == [*ring, "Hangup"]
    assert apps(text, "ring-all", "s") == [*group, *leave]
    assert apps(text, "ring-all", "novm") == [*group, "Hangup"]
    assert "exten => 20,1,Goto(ring-all,s,1)" in text
    assert "exten => 21,1,Goto(ring-all,novm,1)" in text
    push = "Set(CHANNEL(hangup_handler_push)=supervisor-voicemail,s,1)"
    assert f"same => n(busy),{push}\nsame => n,VoiceMail(11@default,b)" in text
    assert f"same => n,{push}\nsame => n,VoiceMail(11@default,u)" in text


def test_voicemail_result_goes_on_the_call_record() -> None:
    """Every VoiceMail() is preceded by the hangup handler that records VMSTATUS as the CEL
    user event VOICEMAIL (the record's `voicemail`: a message was really left)."""
    text = files()["extensions.conf"]
    assert text.count("VoiceMail(") == text.count("hangup_handler_push)=supervisor-voicemail,")
    handler = text.split("[supervisor-voicemail]\n", 1)[1].split("\n\n", 1)[0]
    assert handler.splitlines() == [
        "exten => s,1,CELGenUserEvent(VOICEMAIL,${VMSTATUS})",
        "same => n,Return()",
    ]


def test_access_extensions_reach_own_box_and_any_box() -> None:
    """*97 opens the caller's own box (set per endpoint), *98 asks for the box number."""
    rendered = files()
    text = rendered["extensions.conf"]
    assert "exten => *97,1,VoiceMailMain(${VOICEMAIL_BOX}@default)" in text
    assert "exten => *98,1,VoiceMailMain(@default)" in text
    endpoints = conffile.objects(rendered["pjsip.conf"], "endpoint")
    assert endpoints["desk"].get("set_var") == "VOICEMAIL_BOX=11"
    assert endpoints["desk"].get("mailboxes") == "11@default"
    assert endpoints["kitchen"].get("mailboxes") is None
    assert conffile.objects(rendered["pjsip.conf"], "aor")["desk"].get("mailboxes") == "11@default"


def test_no_boxes_no_access_extensions_but_voicemail_still_loads() -> None:
    """Without boxes there is nothing to dial, yet app_voicemail stays loaded (adding the first
    box is a reload, not a restart) and never its ODBC/IMAP variants."""
    text = SITE.replace("    voicemail: {pin_secret: desk-pin}\n", "").replace(
        ", voicemail: desk}", "}"
    )
    rendered = files(text)
    assert "VoiceMailMain" not in rendered["extensions.conf"]
    assert conffile.parse(rendered["voicemail.conf"])[1].options == []
    loaded = load_site([config_mount(("site.yaml", text))], [secret_mount(SECRETS)])
    names = modules(loaded.site, CONTEXT)
    assert "app_voicemail.so" in names
    assert not [n for n in names if n.startswith("app_voicemail_")]
    assert len(names) == len(set(names))


def test_doorbell_never_leaves_a_message() -> None:
    """A doorbell ringing a group with a box rings it without the voicemail ending."""
    bell = "  bell:\n    identify: [2001:db8:1::5]\n    context: doorbell\n"
    text = SITE.replace("  kitchen:\n", bell + "  kitchen:\n").replace(
        "  ring_groups:", "  doorbell: {ring: all}\n  ring_groups:"
    )
    extensions = files(text)["extensions.conf"]
    assert "exten => s,1,Goto(ring-all,novm,1)" in extensions
