"""Reading what a rendered Asterisk config file declares (the read-back's expectations)."""

from __future__ import annotations

from supervisor.reload import conffile, modules
from supervisor.render import MODULE_OF_FILE

PJSIP = """\
; comment
[tpl](!)
type = endpoint
context = internal ; trailing comment

[desk](tpl)
aors = desk

[desk]
type = aor

[trunk]
type = auth
password = a\\;b
"""


def test_templates_comments_and_repeated_names() -> None:
    """Templates are inherited and not objects; `\\;` is a literal semicolon; a name may repeat."""
    endpoints = conffile.objects(PJSIP, "endpoint")
    assert list(endpoints) == ["desk"]
    assert endpoints["desk"].get("context") == "internal"
    assert list(conffile.objects(PJSIP, "aor")) == ["desk"]
    assert conffile.objects(PJSIP, "auth")["trunk"].get("password") == "a;b"


def test_dialplan_extensions_and_priorities() -> None:
    """exten/same lines give each extension's applications; hints and include-only contexts
    and [general]/[globals] are not extensions."""
    text = (
        "[general]\nstatic = yes\n[globals]\nX = 1\n"
        "[in]\nexten => 11,1,Dial(PJSIP/desk,30)\nsame => n,Hangup()\n"
        "exten => 11,hint,PJSIP/desk\nexten => _0X.,1,NoOp()\n"
        "[only-includes]\ninclude => in\n"
    )
    plan = conffile.dialplan(text).contexts
    assert plan == {"in": {"11": ["Dial", "Hangup"], "_0X.": ["NoOp"]}}


def test_transport_changes_name_the_keys() -> None:
    """A changed transport is reported with the keys that changed; added and removed too."""
    old = "[udp]\ntype = transport\nbind = [::]:5060\n[tcp]\ntype = transport\nbind = x\n"
    new = "[udp]\ntype = transport\nbind = [::]:5070\n[tls]\ntype = transport\nbind = y\n"
    assert modules.transport_changes(old, new) == [
        "transport tcp removed",
        "transport tls added",
        "transport udp changed: bind",
    ]


def test_auth_only_change_selects_its_registration() -> None:
    """Only registrations whose auth changed (and that did not change themselves) re-register."""
    reg = "[r]\ntype = registration\noutbound_auth = a\n"
    old = reg + "[a]\ntype = auth\npassword = 1\n"
    new = reg + "[a]\ntype = auth\npassword = 2\n"
    assert modules.registrations_with_changed_auth(old, new) == ["r"]
    assert modules.registrations_with_changed_auth(old, old) == []


def test_affected_modules() -> None:
    """Each changed file maps to its module once; start-up-only files need a restart."""
    mods, restart = modules.affected_modules(
        ["pjsip.conf", "extensions.conf", "modules.conf"], MODULE_OF_FILE
    )
    assert mods == ["pbx_config.so", "res_pjsip.so"]
    assert restart == ["modules.conf"]
