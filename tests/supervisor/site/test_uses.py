"""What raw snippets use from Asterisk is checked against the image's own facts, with lines."""

from __future__ import annotations

import textwrap

import pytest

from supervisor.site.errors import SiteInvalid
from supervisor.site.uses import dialplan_uses, needs, pjsip_needs
from tests.supervisor.site.sites import load_text

MINIMAL = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
"""


def problems_of(body: str) -> list[str]:
    with pytest.raises(SiteInvalid) as caught:
        load_text(MINIMAL + textwrap.dedent(body))
    return [str(p) for p in caught.value.problems]


def test_dialplan_uses_finds_applications_and_functions() -> None:
    """Applications of exten/same lines (and of Exec*), functions read, written and in $[...]."""
    text = textwrap.dedent(
        """\
        [ivr]
        exten => 1,1,Playback(hello)
         same => n(again),Set(DB(a/b)=${IF($[${LEN(x)} > 1]?a:b)})
         same => n,ExecIf($[1 = 1]?MixMonitor(x.wav):Wait(1))
        exten => 2,hint,PJSIP/desk
        """
    )
    found = {(u.line, u.kind, u.name) for u in dialplan_uses(text)}
    assert (2, "application", "Playback") in found
    assert {(3, "function", "DB"), (3, "function", "IF"), (3, "function", "LEN")} <= found
    assert {(4, "application", "MixMonitor"), (4, "application", "Wait")} <= found
    assert not [u for u in found if u[0] == 5]  # a hint runs nothing


def test_needs_names_modules_and_refuses_what_cannot_run() -> None:
    """Each name gets its module (the core's none); unknown names and modules the image lacks
    are problems with their line."""
    text = textwrap.dedent(
        """\
        [ivr]
        exten => 1,1,Answer()
         same => n,Playbak(hello)
         same => n,DAHDISendKeypadFacility(1)
         same => n,Set(X=${NOPE(1)})
         same => n,VoiceMail(1@default)
         same => n,Set(Y=$[ COS(1) ])
        """
    )
    found = needs(dialplan_uses(text))
    assert found.modules == ("app_voicemail",)  # the plain variant, not _odbc or _imap
    assert found.problems == (
        (3, "Asterisk has no application Playbak; did you mean Playback?"),
        (
            4,
            "application DAHDISendKeypadFacility is provided by chan_dahdi, which the image "
            "does not have",
        ),
        (5, "Asterisk has no function NOPE"),
    )
    # Where several modules provide a name, the one the site loads is taken.
    odbc = needs(dialplan_uses(text), ["app_voicemail_odbc.so"])
    assert odbc.modules == ("app_voicemail_odbc",)


def test_pjsip_options_checked_per_type_through_templates() -> None:
    """A raw pjsip section's options must be documented for its type (inherited from a
    template), with a listed value where the documentation lists them."""
    text = textwrap.dedent(
        """\
        [phone](!)
        type = endpoint
        [desk](phone)
        dtmf_mode = loud
        max_contacts = 1
        [desk]
        type = aor
        max_contacts = 1
        [out]
        type = registration
        server_uri = sip:provider.example
        [odd]
        type = endpoints
        """
    )
    found = pjsip_needs(text)
    assert found.modules == ("res_pjsip", "res_pjsip_outbound_registration")
    assert found.problems == (
        (
            4,
            "endpoint option dtmf_mode: 'loud' is not one of auto, auto_info, inband, info, "
            "rfc4733",
        ),
        (5, "a pjsip endpoint has no option max_contacts"),
        (12, "Asterisk has no pjsip object type endpoints; did you mean endpoint?"),
    )


def test_check_refuses_raw_dialplan_with_file_line_and_key() -> None:
    """`check` refuses a raw snippet calling what Asterisk cannot run, at the snippet's line."""
    assert problems_of(
        """\
        raw:
          extensions.conf: |
            [ivr]
            exten => 1,1,Answer()
             same => n,DAHDISendKeypadFacility(1)
          pjsip.conf: |
            [extra]
            type = aor
            max_contact = 2
        modules: [app_playback, app_nosuch.so]
        """
    ) == [
        "site.yaml:7: raw.extensions.conf: application DAHDISendKeypadFacility is provided by "
        "chan_dahdi, which the image does not have",
        "site.yaml:11: raw.pjsip.conf: a pjsip aor has no option max_contact; did you mean "
        "max_contacts?",
        "site.yaml:12: modules[1]: the image has no module app_nosuch",
    ]


def test_modules_that_leave_the_site_are_refused() -> None:
    """System, AGI, SHELL() and FILE() in a raw dialplan, or app_system in modules, are refused
    with the reason: they would hand the call or the pod to something outside the site."""
    assert problems_of(
        """\
        raw:
          extensions.conf: |
            [tools]
            exten => 1,1,System(touch /tmp/x)
             same => n,AGI(agi://198.51.100.9/)
             same => n,Set(X=${SHELL(id)}${FILE(/etc/asterisk/pjsip.conf)})
        modules: [app_system]
        """
    ) == [
        "site.yaml:6: raw.extensions.conf: application System is not allowed: it runs shell "
        "commands",
        "site.yaml:7: raw.extensions.conf: application AGI is not allowed: it hands the call "
        "to an external program (AGI)",
        "site.yaml:8: raw.extensions.conf: function FILE is not allowed: it reads and writes any "
        "file Asterisk can (its config holds passwords)",
        "site.yaml:8: raw.extensions.conf: function SHELL is not allowed: it runs shell commands",
        "site.yaml:9: modules[0]: app_system is not allowed: it runs shell commands",
    ]
