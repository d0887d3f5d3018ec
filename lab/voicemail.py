"""Voicemail in the lab, with real audio: a caller that talks (a PCMU tone from lab.audio, played
by sipp from a pcap), a registered phone that never answers and records its message-waiting
NOTIFYs, a phone dialling the voicemail-access extension with RFC 4733 DTMF (also a pcap
made by lab.audio), and a reader for the messages in Asterisk's spool."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab import netns, sipp
from lab.asterisk import RunDir, wait_until
from lab.audio import dtmf_pcap, plan_seconds, write_tone_pcap
from lab.netns import Lab
from lab.paths import SCENARIOS
from lab.phones import PHONES_V6
from lab.supervisor import SupervisorRun

WAV_HEADER = 44
WAV_BYTES_PER_S = 16000  # 8 kHz, 16-bit mono: app_voicemail's `wav` format


def _scenario(run: RunDir, template: str, name: str, values: dict[str, str]) -> str:
    text = (SCENARIOS / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    path = run.path("scenarios") / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return run.inside(path)


def _phone_address(lab: Lab) -> None:
    lab.add_address("provider", f"{PHONES_V6}/128")
    lab.run("router", ["ip", "-6", "route", "replace", f"{PHONES_V6}/128", "dev", "prov0"])


@dataclass(frozen=True)
class Summary:
    """One message-summary NOTIFY body (RFC 3842): waiting or not, new/old voice messages."""

    waiting: bool
    new: int
    old: int


def summaries(log: Path) -> list[Summary]:
    """The message-summary NOTIFYs in a sipp message log (-trace_msg), in order."""
    text = log.read_text(errors="replace") if log.exists() else ""
    out = []
    for block in re.split(r"\n(?=-+ )", text):
        if not re.search(r"^NOTIFY ", block, re.MULTILINE) or "message-summary" not in block:
            continue
        waiting = re.search(r"Messages-Waiting:\s*(yes|no)", block, re.IGNORECASE)
        counts = re.search(r"Voice-Message:\s*(\d+)/(\d+)", block)
        if waiting:
            new, old = (int(counts.group(1)), int(counts.group(2))) if counts else (0, 0)
            out.append(Summary(waiting.group(1).lower() == "yes", new, old))
    return out


def subscribe_mwi(
    lab: Lab, run: RunDir, user: str, password: str, *, timeout_s: int = 15
) -> list[Summary]:
    """Phone `user` SUBSCRIBEs to its message summary (digest auth), takes the NOTIFY, then
    unsubscribes; returns the summaries it was sent (raises if the exchange fails)."""
    _phone_address(lab)
    log = run.path("log") / f"subscribe-{user}.log"
    log.unlink(missing_ok=True)
    scenario = _scenario(run, "phone_subscribe_mwi.xml", "phone_subscribe_mwi.xml", {})
    phone = sipp.Sipp(
        lab,
        run,
        "provider",
        sipp.phone_args(
            f"[{netns.POD_V6}]:5060",
            scenario,
            service=user,
            user=user,
            password=password,
            source=PHONES_V6,
            timeout_s=timeout_s,
            extra=["-trace_msg", "-message_file", run.inside(log)],
        ),
        name=f"subscribe-{user}",
    ).start()
    try:
        if phone.wait(timeout_s + 5) != 0:
            trace = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{user}'s MWI subscription failed:\n{trace}")
    finally:
        phone.stop()
    return summaries(log)


class MwiPhone:
    """A phone account registered from [PHONES_V6]:port whose device rings without answering and
    takes the message-waiting NOTIFYs Asterisk sends it (kept in sipp's message log)."""

    def __init__(self, lab: Lab, run: RunDir, user: str, password: str, port: int) -> None:
        self.lab, self.run, self.user, self.password, self.port = lab, run, user, password, port
        self.log = run.path("log") / f"mwi-{user}-{port}.log"
        self.device: sipp.Sipp | None = None

    def start(self) -> MwiPhone:
        _phone_address(self.lab)
        self.log.unlink(missing_ok=True)
        scenario = _scenario(self.run, "phone_mwi.xml", "phone_mwi.xml", {})
        self.device = sipp.Sipp(
            self.lab,
            self.run,
            "provider",
            [
                "-sf",
                scenario,
                "-i",
                PHONES_V6,
                "-p",
                str(self.port),
                "-trace_msg",
                "-message_file",
                self.run.inside(self.log),
                "-deadcall_wait",
                "0",
            ],
            name=f"mwi-{self.user}",
        ).start()
        return self

    def register(self, timeout_s: int = 15) -> None:
        """REGISTER (digest) with Contact at this phone's device; raises if refused."""
        scenario = _scenario(
            self.run,
            "phone-register.xml",
            f"register-{self.user}-{self.port}.xml",
            {"CONTACT_PORT": str(self.port)},
        )
        phone = sipp.Sipp(
            self.lab,
            self.run,
            "provider",
            sipp.phone_args(
                f"[{netns.POD_V6}]:5060",
                scenario,
                service=self.user,
                user=self.user,
                password=self.password,
                source=PHONES_V6,
                timeout_s=timeout_s,
            ),
            name=f"register-{self.user}",
        ).start()
        if phone.wait(timeout_s + 5) != 0:
            raise RuntimeError(f"{self.user} could not register:\n{phone.output()[-1500:]}")

    def summaries(self) -> list[Summary]:
        """Every message-summary NOTIFY received so far, in order."""
        return summaries(self.log)

    def stop(self) -> None:
        if self.device is not None:
            self.device.stop()


def leave_message(
    lab: Lab, run: RunDir, number: str, *, talk_s: float, hold_ms: int, name: str = "caller"
) -> sipp.Sipp:
    """The provider calls `number` (a DID) and, once answered (by voicemail), plays a tone of
    `talk_s` seconds; it hangs up `hold_ms` after the answer. Returns the running sipp."""
    pcap = write_tone_pcap(run.path("scenarios") / f"tone-{name}.pcap", talk_s)
    scenario = _scenario(
        run,
        "uac_pcap.xml",
        f"uac-pcap-{name}.xml",
        {"PCAP": run.inside(pcap), "HOLD_MS": str(hold_ms), "FROM_USER": "provider"},
    )
    caller = sipp.Sipp(
        lab,
        run,
        "provider",
        [
            f"[{netns.POD_V6}]:5060",
            "-sf",
            scenario,
            "-s",
            number,
            "-i",
            netns.PROVIDER_V6,
            "-p",
            "0",
            "-m",
            "1",
            "-timeout",
            f"{hold_ms // 1000 + 40}s",
            "-timeout_error",
        ],
        name=name,
    )
    return caller.start()


def message_left(
    lab: Lab,
    run: RunDir,
    number: str,
    box: str,
    *,
    hold_ms: int,
    ring_s: float,
    name: str = "caller",
) -> Message:
    """The provider calls `number` (a DID ringing box `box`'s phone, which does not answer for
    `ring_s` s) and talks until `hold_ms` after voicemail answered; the new INBOX message."""

    def inbox() -> list[Message]:
        return [m for m in messages(run.path("spool"), box) if m.folder == "INBOX"]

    before = {m.wav.name for m in inbox()}
    caller = leave_message(lab, run, number, talk_s=hold_ms / 1000 + 2, hold_ms=hold_ms, name=name)
    try:
        code = caller.wait(hold_ms / 1000 + ring_s + 30)
    finally:
        caller.stop()
    if code != 0:
        raise RuntimeError(f"the call to {number} failed:\n{caller.output()[-2000:]}")
    wait_until(lambda: len(inbox()) > len(before), 5, what="the message file")
    (new,) = [m for m in inbox() if m.wav.name not in before]
    return new


def dial_with_dtmf(
    lab: Lab,
    run: RunDir,
    user: str,
    password: str,
    extension: str,
    plan: list[tuple[float, str]],
    *,
    after_s: float = 1.0,
    name: str = "access",
) -> sipp.Sipp:
    """Phone `user` calls `extension` (digest auth); once answered it sends the DTMF of `plan`
    ((pause in seconds, digits), ...: RFC 4733 events from lab.audio), waits `after_s` and hangs
    up."""
    pcap = run.path("scenarios") / f"dtmf-{name}.pcap"
    pcap.write_bytes(dtmf_pcap(plan))
    hold_ms = int((plan_seconds(plan) + after_s) * 1000)
    scenario = _scenario(
        run,
        "phone_dtmf.xml",
        f"phone-dtmf-{name}.xml",
        {"USER": user, "PCAP": run.inside(pcap), "HOLD_MS": str(hold_ms)},
    )
    total = hold_ms // 1000 + 40
    caller = sipp.Sipp(
        lab,
        run,
        "provider",
        sipp.phone_args(
            f"[{netns.POD_V6}]:5060",
            scenario,
            service=extension,
            user=user,
            password=password,
            source=PHONES_V6,
            timeout_s=total,
        ),
        name=name,
    )
    _phone_address(lab)
    return caller.start()


@dataclass(frozen=True)
class Message:
    folder: str
    wav: Path
    audio_s: float  # from the WAV's size
    duration_s: int  # app_voicemail's own figure (msgNNNN.txt)


def messages(spool: Path, number: str, context: str = "default") -> list[Message]:
    """The messages of box `number` in a spool directory (host path), every folder."""
    box = spool / "voicemail" / context / number
    out = []
    for wav in sorted(box.glob("*/msg*.wav")):
        info = wav.with_suffix(".txt")
        text = info.read_text(errors="replace") if info.exists() else ""
        found = re.search(r"^duration=(\d+)", text, re.MULTILINE)
        size = wav.stat().st_size
        out.append(
            Message(
                folder=wav.parent.name,
                wav=wav,
                audio_s=max(0, size - WAV_HEADER) / WAV_BYTES_PER_S,
                duration_s=int(found.group(1)) if found else -1,
            )
        )
    return out


DEMO_DID = "+4930123457"  # examples/home: the desk's number, box 11
DEMO_MWI_PORT = 5064


def demo_message(
    lab: Lab,
    run: RunDir,
    sup: SupervisorRun,
    password: str,
    say: Callable[[str], None],
) -> MwiPhone:
    """The demo's voicemail part: the provider calls the desk's number while the desk phone is
    off, the caller talks, the message lands in box 11; then the desk phone registers and its
    message-waiting lamp comes on. Returns the lamp's phone (the caller stops it)."""
    caller = leave_message(lab, run, DEMO_DID, talk_s=17, hold_ms=15_000, name="demo-voicemail")
    try:
        code = caller.wait(60)
    finally:
        caller.stop()
    if code != 0:
        raise RuntimeError(f"the voicemail call failed:\n{caller.output()[-1500:]}")
    spool = run.path("spool")
    wait_until(lambda: messages(spool, "11"), 5, what="the message file")
    message = messages(spool, "11")[-1]
    labels = {"mailbox": "desk", "folder": "new"}
    metric = "asterisk_supervisor_voicemail_messages"
    wait_until(lambda: (sup.metric(metric, labels) or 0) >= 1, 10, what="the message counted")
    say(
        f"voicemail: the provider called {DEMO_DID} (desk, whose phone is off); the caller "
        f"left a {message.audio_s:.1f} s message in box 11 "
        f"({message.wav.relative_to(run.host)}), counted by {metric}"
        f'{{mailbox="desk",folder="new"}} = {sup.metric(metric, labels):.0f}'
    )
    lamp = MwiPhone(lab, run, "desk", password, DEMO_MWI_PORT).start()
    lamp.register()
    wait_until(lambda: any(s.waiting for s in lamp.summaries()), 10, what="the MWI NOTIFY")
    waiting = next(s for s in lamp.summaries() if s.waiting)
    say(
        f"desk phone registered: message waiting (NOTIFY message-summary: {waiting.new} new, "
        f"{waiting.old} old); it listens with *97 and its PIN"
    )
    return lamp
