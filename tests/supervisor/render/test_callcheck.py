"""The call-time safety checker on hostile and clean dialplan: every way a caller's value reaches
an application argument, an expression, a function's argument, a variable name or an offset is
refused; what callsafe renders, and values proven clean, pass."""

from __future__ import annotations

import pytest

from supervisor.confparse import parse
from supervisor.render import RenderContext, callsafe, render
from supervisor.render.callcheck import (
    MAX_DEPTH,
    MAX_PROBLEMS,
    check,
    check_features,
    references,
)
from supervisor.site.errors import SiteInvalid
from tests.supervisor.site.sites import base, load_dict


def problems(*apps: str) -> list[str]:
    """The checker's messages for an extension running `apps` in turn."""
    lines = [f"exten => _X.,1,{apps[0]}"] + [f" same => n,{app}" for app in apps[1:]]
    return [u.message for u in check(parse("[c]\n" + "\n".join(lines) + "\n"))]


HOSTILE = [
    "Dial(PJSIP/${EXTEN}@provider)",
    "Dial(PJSIP/+49${EXTEN:1}@provider)",
    "Dial(PJSIP/${CALLERID(num)}@provider)",
    "Dial(PJSIP/${CALLERID(name)})",
    "NoOp(${PJSIP_HEADER(read,X-Number)})",
    "Dial(PJSIP/${CONNECTEDLINE(num)})",
    "Dial(PJSIP/${REDIRECTING(from-num)})",
    "Dial(PJSIP/${DNID})",
    "Dial(PJSIP/${RDNIS})",
    "Dial(PJSIP/${CHANNEL(uri)})",
    "Dial(PJSIP/${SAFE_NUMBER:${EXTEN}})",
    "Dial(PJSIP/${SAFE_NUMBER:1:${CALLERID(num)}})",
    "Dial(PJSIP/${${EXTEN}})",
    "Dial(PJSIP/${SAFE_${EXTEN}})",
    "GotoIf($[${EXTEN} = 1]?a)",
    'GotoIf($["${CALLERID(num)}" = "1"]?a)',
    "GotoIf($[CALLERID(num) = 1]?a)",
    "GotoIf($[ ${LEN(${EXTEN})} > $[${EXTEN}] ]?a)",
    "Set(SAFE_NUMBER=${EXTEN})",
    "Set(_SAFE_NUMBER=${EXTEN})",
    "Set(safe_number=${CALLERID(num)})",
    "Set(FLOW_TRIES=${EXTEN})",
    "Set(DIALSTATUS=${EXTEN})",
    "Set(VOICEMAIL_BOX=${EXTEN})",
    "Set(CALLERID(num)=${EXTEN})",
    "Set(DB(cf/desk)=${EXTEN})",
    "Set(DB(cf/${EXTEN})=1)",
    "Set(${EXTEN}=1)",
    "Set(A=${SHELL(${EXTEN})})",
    "Set(A=${FILTER(0-9,${SHELL(${EXTEN})})})",
    "Set(SAFE_X=${FILTER(${X},${EXTEN})})",
    "Set(SAFE_X=${FILTER(0-9\\,,${EXTEN})})",
    "Set(SAFE_X=${FILTER(&/,${EXTEN})})",
    "Set(SAFE_X=${FILTER(0-9,${EXTEN}):${EXTEN}})",
    "Set(SAFE_X=${REPLACE(EXTEN,0-9)})",
    "Set(SAFE_X=$[${EXTEN}])",
    "MSet(SAFE_X=${EXTEN})",
    "Read(SAFE_X,beep)",
    "Read(VOICEMAIL_BOX)",
    "ExecIf($[1]?Dial(PJSIP/${EXTEN}))",
    "Gosub(sub,s,1(${EXTEN}))",
    "Dial(PJSIP/${ARG1})",
    "Dial(PJSIP/${UNSAFE_REST})",
    "Dial(PJSIP/${EVAL(${SAFE_NUMBER})})",
    "Dial(PJSIP/${CUT(EXTEN,&,1)})",
    "Dial(PJSIP/${TOUPPER(${EXTEN})})",
    "Dial(PJSIP/${EXTEN",
    "System(echo ${EXTEN})",
    "${EXTEN}(x)",
]


@pytest.mark.parametrize("app", HOSTILE)
def test_a_caller_value_anywhere_is_refused(app: str) -> None:
    """Each way of using a caller's value (or an unproven one) is found, with its line."""
    found = check(parse(f"[c]\nexten => _X.,1,NoOp()\n same => n,{app}\n"))
    assert found, app
    assert {(u.line, u.context, u.key) for u in found} == {(3, "c", "same")}


CLEAN = [
    "Dial(PJSIP/desk&PJSIP/kitchen,25)",
    'GotoIf($["${DIALSTATUS}"="BUSY"]?busy)',
    "VoiceMailMain(${VOICEMAIL_BOX}@default)",
    "Set(SAFE_NUMBER=${FILTER(0123456789,${EXTEN})})",
    "Set(SAFE_NUMBER=${FILTER(0-9*#+,${EXTEN})})",
    "Dial(PJSIP/+49${SAFE_NUMBER:1}@provider)",
    "Dial(PJSIP/${SAFE_NUMBER:1:${LEN(${EXTEN})}}@provider)",
    "Set(UNSAFE_REST=${REPLACE(EXTEN,0123456789)})",
    "ExecIf($[${FIELDQTY(UNSAFE_REST,-)} > 0]?Hangup(28))",
    "Set(CALLER=${CALLERID(num)})",
    "Set(FLOW_TRIES=$[${FLOW_TRIES}+1])",
    "Set(FLOW_DAY=${STRFTIME(${EPOCH},Europe/Berlin,%Y%m%d)})",
    'GotoIf($["${DB(supervisor-night/office)}"="1"]?closed,1)',
    "Set(DB(supervisor-night/office)=1)",
    "Set(DB(cf/desk)=${SAFE_NUMBER})",
    "Dial(PJSIP/SAFE_1)",
    "Hangup()",
]


@pytest.mark.parametrize("app", CLEAN)
def test_proven_clean_values_pass(app: str) -> None:
    """Constants, closed Asterisk values, our filtered and our own variables, data arguments."""
    assert problems("NoOp()", app) == []


def test_the_callsafe_lines_pass_and_the_raw_number_does_not() -> None:
    """What callsafe renders for a route is clean; the same Dial on ${EXTEN} is not."""
    guarded = callsafe.guarded(callsafe.route_characters("_+Z."))
    assert problems(*guarded, f"Dial(PJSIP/{callsafe.safe(skip=2)}@provider)") == []
    assert problems(*guarded, "Dial(PJSIP/${EXTEN:2}@provider)") != []


def test_a_filtered_caller_id_is_clean_and_the_helpers_refuse_bad_sets() -> None:
    """callsafe.filtered() of CALLERID(num) passes the checker; the helpers refuse to filter
    to characters that are not plain, or into a variable outside SAFE_."""
    assert problems(callsafe.filtered("CALLERID(num)", "0123456789+", "SAFE_CALLER")) == []
    assert problems("Dial(PJSIP/${SAFE_CALLER}@provider)") == []
    with pytest.raises(ValueError, match="plain"):
        callsafe.guarded("0-9&")
    with pytest.raises(ValueError, match="SAFE_"):
        callsafe.filtered("CALLERID(num)", "0123456789", "CALLER")


def test_hints_and_load_time_values_are_not_call_time() -> None:
    """Extension names, hints, include and switch are read at load time, without a channel."""
    text = "[c]\ninclude => ${X}\nswitch => Loopback/${Y}\nexten => 1,hint,PJSIP/${Z}\n"
    assert check(parse(text)) == []
    assert [u.key for u in check(parse("[c]\neswitch => Loopback/${EXTEN}\n"))] == ["eswitch"]


def test_general_and_globals_are_not_contexts() -> None:
    """[general] and [globals] hold no applications."""
    assert check(parse("[general]\nx = ${EXTEN}\n[globals]\nY = ${EXTEN}\n")) == []


def test_references_end_where_asterisks_do() -> None:
    """Braces and brackets count as in pbx_variables.c; an unclosed one runs to the end."""
    found = references("a${X{y}}b$[1+$[2]]c${Z")
    assert [(r.inner, r.expression) for r in found] == [
        ("X{y}", False),
        ("1+$[2]", True),
        ("Z", False),
    ]


def test_nesting_and_problem_counts_are_bounded() -> None:
    """Deep nesting is refused, not recursed without end; at most MAX_PROBLEMS per file."""
    deep = "${X:" * (MAX_DEPTH + 5) + "1" + "}" * (MAX_DEPTH + 5)
    assert any("deeper" in m for m in problems(f"Dial(PJSIP/{deep})"))
    many = "[c]\n" + "".join(f"exten => {i},1,Dial(${{EXTEN}})\n" for i in range(100))
    assert len(check(parse(many))) == MAX_PROBLEMS


def test_raw_dialplan_using_the_number_unfiltered_is_refused_with_its_location() -> None:
    """A raw snippet that dials ${EXTEN} refuses the site: raw.extensions.conf, its own line,
    the context, and the reason; the same snippet through callsafe renders."""
    site = base()
    site["raw"] = {
        "extensions.conf": "[evil]\nexten => _X.,1,NoOp()\n same => n,Dial(PJSIP/${EXTEN})\n"
    }
    with pytest.raises(SiteInvalid) as refused:
        render(load_dict(site), RenderContext(ami_secret="x"))
    message = str(refused.value)
    assert "raw.extensions.conf" in message
    assert "[evil] same: line 3 of the raw snippet: Dial() takes ${EXTEN}" in message
    assert "docs/callsafety.md" in message
    apps = [*callsafe.guarded("0123456789"), f"Dial(PJSIP/{callsafe.safe()}@provider)"]
    body = "".join(f" same => n,{app}\n" for app in apps)
    site["raw"] = {"extensions.conf": "[fine]\nexten => _X.,1,NoOp()\n" + body}
    assert "[fine]" in render(load_dict(site), RenderContext(ami_secret="x"))["extensions.conf"]


def test_feature_codes_in_the_applicationmap_are_checked() -> None:
    """features.conf's applicationmap runs its application on a caller's channel with its
    arguments substituted: a caller's value there refuses the site; constants pass."""
    text = (
        "[applicationmap]\n"
        "rec => *3,self,MixMonitor(${CALLERID(num)}.wav)\n"
        "ok => *4,self,Playback(beep)\n"
    )
    found = check_features(parse(text))
    assert [(u.line, u.key) for u in found] == [(2, "rec")]
    site = base()
    site["raw"] = {"features.conf": text}
    with pytest.raises(SiteInvalid) as refused:
        render(load_dict(site), RenderContext(ami_secret="x"))
    assert "features.conf [applicationmap] rec: line 2 of the raw snippet" in str(refused.value)
