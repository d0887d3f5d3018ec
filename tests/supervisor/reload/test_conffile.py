"""Reading what a rendered Asterisk config file declares (the read-back's expectations)."""

from __future__ import annotations

from supervisor.reload import conffile

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
