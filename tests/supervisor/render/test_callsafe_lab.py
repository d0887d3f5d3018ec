"""Call-time safety on the real Asterisk 22 (docs/callsafety.md): hostile dialled strings at
every route and feature code the renderer writes, from a phone (digest auth), from the trunk
(identified by address) and from the doorbell. No leg the caller did not dial reaches the
provider, no option is injected, and each call is refused or routed exactly as its clean
number is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import dialer, netns, sipp, sites
from lab.asterisk import wait_until
from lab.phones import PHONES_V6
from lab.reloadpbx import LabPbx

pytestmark = pytest.mark.lab

PROVIDER_PORT = 5070
#: What a caller appends to (or puts inside) a number: each a way into Dial's arguments, an
#: expression, a function's argument or the SIP stack's own parsing.
HOSTILE = {
    "amp": "&PJSIP/+19005550100",
    "ampat": "&PJSIP/+19005550100%40provider",
    "ampesc": "%26PJSIP%2F+19005550100",
    "comma": ",5,tTL(1000)",
    "commaesc": "%2C5%2CD(1)",
    "slash": "/+1900",
    "paren": ")",
    "parencolon": "):0",
    "varesc": "%24%7BEXTEN%7D",
    "expresc": "%24%5B1%2B1%5D",
    "pipeesc": "%7Cx",
    "dquote": "%22x%22",
    "squote": "'x'",
    "nul": "%00&PJSIP/+19005550100",
    "semicolon": "%3Bx",
    "dash": "-5",
    "star": "*5",
    "hash": "%235",
    "letters": "abc",
    "backslash": "%5C",
    "space": "%20x",
    "atesc": "%40provider",
    "longamp": "&" * 1200,
    "longdigits": "9" * 1200,
}


def callsafe_site() -> dict[str, Any]:
    """The home site with a provider that answers every INVITE busy on PROVIDER_PORT (no
    registration, no caller ID rewrite: the case's name stays the caller's name), a doorbell
    in context doorbell, and extensions that end without voicemail."""
    site = sites.home()
    trunk = site["trunks"]["provider"]
    trunk.pop("registration")
    trunk.pop("caller_id")
    trunk["port"] = PROVIDER_PORT
    site["endpoints"]["doorbell"]["context"] = "doorbell"
    site["dialplan"]["extensions"] = {
        "11": {"ring": "desk", "voicemail": False},
        "12": {"ring": "kitchen", "voicemail": False},
        "20": {"ring": "everyone", "voicemail": False},
    }
    site["dialplan"]["doorbell"] = {"ring": "desk"}
    site.pop("raw")
    return site


@pytest.fixture(scope="module")
def pbx(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabPbx]:
    pbx = LabPbx(rootfs, tmp_path_factory.mktemp("mounts"))
    try:
        pbx.set_site(callsafe_site())
        pbx.start()
        yield pbx
    finally:
        pbx.stop()


@pytest.fixture(scope="module")
def provider(pbx: LabPbx) -> Path:
    """The provider's SIP side: answers every INVITE busy; its message log."""
    log = pbx.run.path("log") / "provider.messages"
    uas = sipp.Sipp(pbx.lab, pbx.run, "provider", [], name="provider-uas")
    uas.args = ["-sf", uas.scenario("uas_busy.xml"), "-i", netns.PROVIDER_V6]
    uas.args += ["-p", str(PROVIDER_PORT), "-aa", "-m", "1000000", "-trace_msg"]
    uas.args += ["-message_file", pbx.run.inside(log)]
    uas.start()
    pbx.stoppers.append(uas.stop)
    return log


def invites(log: Path) -> list[str]:
    """The Request-URI user of every INVITE the provider received."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line.split()[1] for line in text.splitlines() if line.startswith("INVITE sip:")]


#: Asterisk keeps the first 79 characters of a dialled number (AST_MAX_EXTENSION).
MAX_EXTEN = 79
#: The phone's routes: (dialled clean number, the number the provider must receive (None: not a
#: trunk call), kind): "open" a pattern ending in `.` (any suffix reaches the route, which
#: refuses it: 484), "fixed" a pattern of fixed length, "literal" an extension number (a
#: suffix matches nothing: 404).
PHONE_ROUTES: dict[str, tuple[str, Callable[[str], str] | None, str]] = {
    "r0ZX": ("0301", lambda n: "+49" + n[1:], "open"),
    "r00Z": ("00491", lambda n: "+" + n[2:], "open"),
    "rplus": ("+4930", lambda n: n, "open"),
    "r11X": ("115", lambda n: n, "fixed"),
    "x11": ("11", None, "literal"),
    "x12": ("12", None, "literal"),
    "x20": ("20", None, "literal"),
    "vm": ("*97", None, "literal"),
    "vmany": ("*98", None, "literal"),
}
CLEAN = "clean"


#: What the doorbell's pattern (letters, digits, *#+) takes besides its clean number.
DOORBELL_ALLOWS = {"star", "hash", "letters", "longdigits"}
#: Refused: by the route (484, invalid number format) or because nothing matches (404).
REFUSED = (404, 484)


def expected(kind: str, case: str) -> str | tuple[int, ...]:
    """CLEAN (handled as the clean number) or the final responses a case may get. A NUL (%00)
    ends the number inside Asterisk; a number longer than Asterisk keeps is cut (an open
    pattern still matches it); Asterisk skips `-` when matching, so a literal extension takes
    `1-1` as 11, and a pattern route refuses it. What misses a fixed or literal extension may
    reach an open pattern, which refuses it."""
    if case in ("0clean", "nul") or (case == "longdigits" and kind == "open"):
        return CLEAN
    if case == "dashin" and kind == "literal":
        return CLEAN
    return (484,) if kind == "open" or case == "dashin" else REFUSED


def _phone_address(pbx: LabPbx) -> None:
    pbx.lab.add_address("provider", f"{PHONES_V6}/128")
    pbx.lab.run("router", ["ip", "-6", "route", "replace", f"{PHONES_V6}/128", "dev", "prov0"])


def _cases(routes: dict[str, str]) -> list[tuple[str, str]]:
    """Every route's clean number, then each hostile string appended to it, and `-` inside it."""
    out = []
    for route, number in routes.items():
        out.append((f"{route}_0clean", number))
        out += [(f"{route}_{name}", number + text) for name, text in HOSTILE.items()]
        out.append((f"{route}_dashin", number[:1] + "-" + number[1:]))
    return out


def _channels(pbx: LabPbx, since: int) -> list[str]:
    assert pbx.ami is not None
    return [e["Channel"] for e in pbx.ami.events[since:] if e.get("Event") == "Newchannel"]


def test_a_phone_dialling_hostile_strings_is_refused_or_routed_as_the_clean_number(
    pbx: LabPbx, provider: Path
) -> None:
    """From a phone (digest auth), every hostile string at every outbound route, extension and
    voicemail code: refused (484 at a pattern route, 404 where nothing matches) or routed as
    its clean number; the provider gets exactly the clean numbers' INVITEs, nothing else."""
    _phone_address(pbx)
    assert pbx.ami is not None
    before, events = len(invites(provider)), len(pbx.ami.events)
    cases = _cases({route: spec[0] for route, spec in PHONE_ROUTES.items()})
    password = (sites.HOME / "secrets" / "desk-password").read_text()
    target = f"[{netns.POD_V6}]:5060"
    codes = dialer.dial(
        pbx.lab, pbx.run, "provider", PHONES_V6, target, cases, user="desk", password=password
    )
    expected_invites = []
    for case, dialled in cases:
        route, name = case.split("_", 1)
        clean, provider_number, kind = PHONE_ROUTES[route]
        want = expected(kind, name)
        if want == CLEAN:
            assert codes[case] == codes[f"{route}_0clean"], (case, codes[case])
            if provider_number is not None:
                kept = dialled if name != "nul" else clean
                expected_invites.append(f"sip:{provider_number(kept[:MAX_EXTEN])}")
        else:
            assert codes[case] in want, (case, dialled[:60], codes[case])
    wait_until(lambda: len(invites(provider)) >= before + len(expected_invites), 5)
    received = [uri.split("@")[0] for uri in invites(provider)[before:]]
    assert received == expected_invites
    channels = _channels(pbx, events)
    assert len([c for c in channels if c.startswith("PJSIP/provider-")]) == len(expected_invites)
    assert {c.rsplit("-", 1)[0] for c in channels} <= {"PJSIP/desk", "PJSIP/provider"}


def test_the_trunk_and_the_doorbell_dialling_hostile_strings_are_refused_or_routed_as_clean(
    pbx: LabPbx, provider: Path
) -> None:
    """From the trunk (identified by address) at each DID, and from the doorbell at its
    pattern: refused (404 / 484) or handled as the clean number; no INVITE to the provider."""
    assert pbx.ami is not None
    before, events = len(invites(provider)), len(pbx.ami.events)
    dids = _cases({"did0": "+4930123456", "did1": "+4930123457"})
    codes = dialer.dial(
        pbx.lab,
        pbx.run,
        "provider",
        netns.PROVIDER_V6,
        f"[{netns.POD_V6}]:5060",
        dids,
        user="provider",
        name="trunk-dialer",
    )
    for case, dialled in dids:
        route, name = case.split("_", 1)
        want = expected("literal", name)
        if want == CLEAN:
            assert codes[case] == codes[f"{route}_0clean"], (case, codes[case])
        else:
            assert codes[case] in want, (case, dialled[:60], codes[case])
    bell = _cases({"bell": "100"})
    codes = dialer.dial(
        pbx.lab,
        pbx.run,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:5060",
        bell,
        user="doorbell",
        name="doorbell-dialer",
    )
    for case, dialled in bell:
        name = case.split("_", 1)[1]
        if expected("open", name) == CLEAN or name in DOORBELL_ALLOWS:
            assert codes[case] == codes["bell_0clean"], (case, codes[case])
        else:
            assert codes[case] == 484, (case, dialled[:60], codes[case])
    assert invites(provider)[before:] == []
    channels = {c.rsplit("-", 1)[0] for c in _channels(pbx, events)}
    assert channels <= {"PJSIP/provider", "PJSIP/doorbell", "PJSIP/desk", "PJSIP/kitchen"}
