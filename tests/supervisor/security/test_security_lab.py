"""A SIP scanner against the real supervisor and Asterisk 22 in the lab: its events are counted
by kind, it is blocked after N failures by Asterisk's own ACL, the ban expires, and the site
(trunk, a registered phone, doorbell) keeps working throughout. One supervisor for the module."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import netns, sipp, sipprobe
from lab.asterisk import RunDir, wait_until
from lab.fixtures import Started
from lab.netns import Lab
from lab.paths import REPO
from lab.phones import Phones
from lab.supervisor import SupervisorRun, read_dir

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"
MAX_FAILURES = 5
BAN_TIME = 4
USER_AGENT = "asterisk-supervisor"
EVENTS = "asterisk_supervisor_security_events_total"


@dataclass
class Site:
    lab: Lab
    run: RunDir
    sup: SupervisorRun
    secrets: dict[str, str]
    extra: int = 0

    def source(self) -> str:
        """A scanner address in a fresh /48 (IPv6 sources are counted and blocked by their
        /64, and several offending /64s of one /56 or /48 get it banned), routed like the
        others, so tests never share a ban."""
        self.extra += 1
        address = f"2001:db8:{0xBA00 + self.extra:x}::1"
        self.lab.add_address("scanner", f"{address}/128")
        self.lab.run("router", ["ip", "-6", "route", "replace", f"{address}/128", "dev", "scan0"])
        return address

    def events(self, kind: str) -> float:
        return self.sup.metric(EVENTS, {"event": kind, "service": "PJSIP"}) or 0.0


@pytest.fixture(scope="module")
def site(rootfs: Path) -> Iterator[Site]:
    lab = Lab().up()
    run = RunDir(rootfs, f"{lab.prefix}-run").create()
    started = Started()
    try:
        secrets = {k: v.strip() for k, v in read_dir(EXAMPLE / "secrets").items()}
        registrar = sipp.registrar(
            lab, run, netns.PROVIDER_V6, "pod1", secrets["provider-password"]
        )
        started.add(registrar.stop)
        files = read_dir(EXAMPLE / "site")
        files["site.yaml"] = files["site.yaml"].replace(
            "    context: doorbell\n", "    context: answer-test\n"
        ) + (
            f"\nsecurity:\n  max_failures: {MAX_FAILURES}\n  window: 60\n"
            f"  ban_time: {BAN_TIME}\n"
            "raw:\n  extensions.conf: |\n    [answer-test]\n    exten => _X.,1,Answer()\n"
            "     same => n,Wait(0.2)\n     same => n,Hangup()\n"
        )
        # A phone of this test's own, on UDP whatever the example's phones use.
        files["lab-phone.yaml"] = (
            "endpoints:\n  labphone:\n    auth: {password_secret: desk-password}\n"
            "    transport: udp6\n    qualify: 60\n"
        )
        sup = SupervisorRun(lab, run, files, secrets)
        started.add(sup.stop)
        sup.start().wait_ready(40)
        phones = Phones(lab, run)
        started.add(phones.stop)
        phones.start_ringer()
        phones.register({"labphone": secrets["desk-password"]})
        # Asterisk delays its first REGISTER by a random 1-10 s (and retries a failed one
        # after `retry`); the phone's contact becomes reachable at its first qualify.
        wait_until(
            lambda: sup.metric("asterisk_pjsip_outbound_registration_status") == 1.0,
            40,
            interval=0.2,
            what="trunk registered",
        )
        wait_until(
            lambda: (
                sup.metric("asterisk_supervisor_endpoint_reachable", {"endpoint": "labphone"})
                == 1.0
            ),
            20,
            interval=0.2,
            what="the phone reachable",
        )
        yield Site(lab, run, sup, secrets)
    finally:
        try:
            started.stop_all()
        finally:
            run.remove()
            lab.down()


def test_unknown_account_and_wrong_password_look_the_same(site: Site) -> None:
    """On the wire, a missing account and a wrong password get the same 401 twice (same status
    line, realm and headers but the nonce, no version in Server); an anonymous INVITE is
    challenged, not put through; each failure is counted by its kind within a second."""
    before_invalid = site.events("InvalidAccountID")
    before_failed = site.events("ChallengeResponseFailed")
    source = site.source()
    pod = netns.POD_V6
    wrong = sipprobe.register_in(site.lab, "scanner", source, pod, "desk", "guess")
    missing = sipprobe.register_in(site.lab, "scanner", source, pod, "nosuchuser", "guess")
    echoed = ("Via", "From", "To", "Call-ID", "CSeq")
    shapes = []
    for answer in (*wrong, *missing):
        assert answer is not None
        assert answer.status == 401
        shapes.append(
            (
                answer.reason,
                [
                    (k, v.split("nonce=")[0] if k == "WWW-Authenticate" else v)
                    for k, v in answer.headers
                    if k not in echoed
                ],
            )
        )
    assert len(shapes) == 4
    assert all(shape == shapes[0] for shape in shapes)
    headers = dict(shapes[0][1])
    assert headers.get("Server") == USER_AGENT
    assert 'realm="asterisk"' in headers["WWW-Authenticate"]
    anonymous = sipprobe.request_in(site.lab, "scanner", source, pod, "INVITE", "anonymous")
    assert anonymous is not None
    assert anonymous.status == 401
    # Counted by kind within a second of the last answer.
    wait_until(
        lambda: (
            site.events("ChallengeResponseFailed") >= before_failed + 2
            and site.events("InvalidAccountID") >= before_invalid + 2
        ),
        1.0,
        interval=0.05,
        what="the failures counted by kind",
    )


def test_scanner_is_blocked_while_the_site_keeps_working(site: Site) -> None:
    """sipp guessing passwords (existing and missing account) and dialling guessed numbers is
    blocked after N failures: its next request is refused by Asterisk's ACL (stateless 403, no
    challenge); meanwhile the trunk stays registered, a registered phone stays reachable, and
    doorbell calls are answered. The ban lifts after ban_time."""
    sup = site.sup
    blocks = sup.metric("asterisk_supervisor_blocks_total") or 0.0
    guess = sipp.Sipp(
        site.lab,
        site.run,
        "scanner",
        [
            f"[{netns.POD_V6}]:5060",
            "-sf",
            "",
            "-s",
            "desk",
            "-au",
            "desk",
            "-ap",
            "guess",
            "-i",
            netns.SCANNER_V6,
            "-p",
            "0",
            "-m",
            "20",
            "-r",
            "20",
            "-timeout",
            "20s",
        ],
        name="guess-desk",
    )
    guess.args[2] = guess.scenario("scanner_register.xml")
    missing = sipp.Sipp(
        site.lab,
        site.run,
        "scanner",
        [
            f"{netns.POD_V4}:5060",
            "-sf",
            "",
            "-s",
            "nosuchuser",
            "-au",
            "nosuchuser",
            "-ap",
            "guess",
            "-i",
            netns.SCANNER_V4,
            "-p",
            "0",
            "-m",
            "20",
            "-r",
            "20",
            "-timeout",
            "20s",
        ],
        name="guess-missing",
    )
    missing.args[2] = missing.scenario("scanner_register.xml")
    invite_from = site.source()
    invites = sipp.Sipp(
        site.lab,
        site.run,
        "scanner",
        [
            f"[{netns.POD_V6}]:5060",
            "-sf",
            "",
            "-s",
            "0049301234",
            "-i",
            invite_from,
            "-p",
            "0",
            "-m",
            "20",
            "-r",
            "20",
            "-timeout",
            "20s",
        ],
        name="guess-numbers",
    )
    invites.args[2] = invites.scenario("scanner_invite.xml")
    scanners = [guess.start(), missing.start(), invites.start()]
    doorbell = sipp.call(
        site.lab,
        site.run,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:5060",
        "100",
        calls=3,
        hold_ms=200,
        name="doorbell-during-scan",
    )
    try:
        for scanner in scanners:
            scanner.wait(30)
        assert doorbell.wait(30) == 0, doorbell.output()[-1500:]
    finally:
        for process in (*scanners, doorbell):
            process.stop()
    wait_until(
        lambda: (sup.metric("asterisk_supervisor_blocks_total") or 0) >= blocks + 3,
        5,
        what="three scanner sources blocked",
    )
    for source, target in (
        (netns.SCANNER_V6, netns.POD_V6),
        (netns.SCANNER_V4, netns.POD_V4),
        (invite_from, netns.POD_V6),
    ):
        (answer,) = sipprobe.register_in(site.lab, "scanner", source, target, "desk", "x")
        assert answer is not None
        assert answer.status == 403, answer.raw
        assert answer.header("WWW-Authenticate") is None
    status = sup.status()
    top = {o["address"]: o for o in status["security"]["top_offenders"]}
    assert top[netns.SCANNER_V6]["blocked"] is True
    assert "desk" in top[netns.SCANNER_V6]["accounts"]
    assert "nosuchuser" in top[netns.SCANNER_V4]["accounts"]
    # One line per blocked source, not per packet: Asterisk's own per-request refusal lines are
    # counted, not relayed.
    assert sup.output().count("blocking 2001:db8:bad::/64 ") == 1  # the scanner's /64
    assert "did not pass ACL test" not in sup.output()
    assert (sup.metric("asterisk_supervisor_refused_requests_total") or 0) >= 3
    # The site kept working.
    assert sup.metric("asterisk_pjsip_outbound_registration_status") == 1.0
    assert sup.metric("asterisk_supervisor_endpoint_reachable", {"endpoint": "labphone"}) == 1.0
    assert "198.51.100.66/32" in (site.run.path("etc") / "acl.conf").read_text()
    # The bans lift after ban_time (each on its own timer; the ACL goes once the last is
    # lifted and applied): challenged again.
    pjsip, acl = site.run.path("etc") / "pjsip.conf", site.run.path("etc") / "acl.conf"
    wait_until(
        lambda: (
            "supervisor-blocked" not in pjsip.read_text() + acl.read_text() and security_live(sup)
        ),
        BAN_TIME + 5,
        interval=0.1,
        what="bans expired and the ACL removed from Asterisk",
    )
    assert sup.metric("asterisk_supervisor_blocked_sources") == 0
    answers = sipprobe.register_in(site.lab, "scanner", netns.SCANNER_V4, netns.POD_V4, "x", "y")
    assert answers[0] is not None
    assert answers[0].status == 401


def security_live(sup: SupervisorRun) -> bool:
    """The guard's check says Asterisk runs the current ban list (reloaded and read back)."""
    (check,) = [c for c in sup.status()["checks"] if c["name"] == "security"]
    return "not yet live" not in check["detail"]


def test_block_takes_effect_fast(site: Site) -> None:
    """From the Nth failure's answer to Asterisk refusing the source: well under a second."""
    source = site.source()
    for _ in range(MAX_FAILURES):
        sipprobe.register_in(site.lab, "scanner", source, netns.POD_V6, "desk", "guess")
    nth = time.monotonic()
    while time.monotonic() - nth < 5:
        (answer,) = (sipprobe.options_in(site.lab, "scanner", source, netns.POD_V6),)
        if answer is not None and answer.status == 403:
            break
        time.sleep(0.01)
    latency = time.monotonic() - nth
    assert latency < 2.0, f"not refused {latency:.2f} s after the Nth failure"
