"""`explain` against the real Asterisk: random sites with call flows, random calls into them, and
what Asterisk really did, compared with the prediction (tests/supervisor/site/test_explain_lab.py
runs a few, bench/bench_explain.py a thousand).

A site has three phones (desk, kitchen, hall) that register and ring without ever answering
(sipp's uas_ring), random ring groups, menus, time conditions (random zones, rules and holidays,
night mode switched on in astdb for some) and announcements, nested at random without loops, each
reachable through a DID of its own. A call is a sipp caller from the provider whose From user is
the case's name; it presses the case's digits (RFC 4733, lab.audio) when the prediction says a
menu is listening. Asterisk's AMI events say which phones each Dial rang and for how long, whether
voicemail took the call, and the hang-up cause.

Time: the conditions are evaluated by Asterisk on its own clock and by `explain` at the moment
the call starts; a generated schedule never changes its answer within minutes of that moment.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import itertools
import os
import random
import secrets
import time
import types
import wave
import zoneinfo
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab import dialer, netns, sipp
from lab.ami import LabAmi
from lab.asterisk import Asterisk, directories_section, write_config
from lab.audio import dtmf_pcap, ulaw_wav_tone, wav_tone
from lab.harness import LabHarness
from lab.paths import SCENARIOS
from lab.phones import PHONES_V6, RINGER_PORT, Phones
from lab.rootfs import asterisk_ids
from supervisor.render import Directories, RenderContext, render
from supervisor.render.audio import AUDIO_DIR, directory, player, render_audio
from supervisor.site.audio import REFERENCE_PREFIX
from supervisor.site.explain import Explanation, Step, explain, time_decision
from supervisor.site.features import DND_FAMILY, FORWARD_FAMILIES, Forward
from supervisor.site.flows import CAUSE_CODES, TimeCondition
from supervisor.site.load import LoadedSite, load_site
from supervisor.site.mounts import Mount

PHONES = ("desk", "kitchen", "hall")
FORWARD_KINDS: tuple[Forward, ...] = tuple(FORWARD_FAMILIES)
PASSWORDS = {name: f"{name}-lab-secret" for name in PHONES}
TIMEZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
)
#: Greetings of at least a second (a press falls inside them), and short announcements.
GREETINGS = ("pbx-invalid", "call-fwd-no-ans", "all-circuits-busy-now", "if-correct-press")
ANNOUNCEMENTS = ("beep", "goodbye", "im-sorry", "activated")
DIGITS = "0123456789*#"
#: Seconds after a menu starts listening that the caller presses: inside the greeting (every
#: one of GREETINGS lasts 1.8 s or more), late enough that a press never reaches the Playback of
#: an announcement before it (Playback discards DTMF). The presses lost after announcements
#: (bench/reports/explain*.notes.md) were sent at the answer: sipp dropped the pcap's first
#: pause until dtmf_pcap got `lead`.
PRESS_AT = 1.0
#: What a press takes in lab.audio's dtmf_pcap (held 160 ms, 240 ms gap).
PRESS_S = 0.4
#: Ringing is measured from AMI events: it may differ from the prediction by this much.
RING_TOLERANCE_S = 1.5
#: A prompt's Playback, from its step to the channel's next, may differ from its length this much.
PLAYBACK_TOLERANCE_S = 0.5


def prompt_seconds(rootfs: Path, name: str) -> float:
    """Length of an installed GSM prompt: 33 bytes per 20 ms frame."""
    base = rootfs / "usr/share/asterisk/sounds/en_US_f_Allison"
    return (base / f"{name}.gsm").stat().st_size / 1650


#: Site audio files (docs/audio.md) a site may play, in the three forms Asterisk gets them: 8 kHz
#: PCM (.wav), 16 kHz PCM (.wav16, resampled for the caller's PCMU) and G.711 mu-law (.ulaw).
AUDIO_FORMS = ("pcm8", "pcm16", "ulaw")
#: Lengths of site greetings (a press falls inside them, as with GREETINGS) and of site
#: announcements, in 20 ms steps: a mu-law tone is whole 20 ms packets, so each length is exact.
#: An announcement may be an invalid-key prompt: at least 0.8 s, so that the second digit of a
#: press of 1x (0.4 s later) falls inside it and is discarded.
GREETING_SECONDS = (2.0, 4.0)
ANNOUNCEMENT_SECONDS = (0.8, 3.0)


def _length(rng: random.Random, bounds: tuple[float, float]) -> float:
    low, high = (round(b * 50) for b in bounds)
    return rng.randint(low, high) / 50


def audio_bytes(form: str, seconds: float, hz: float) -> bytes:
    """A site audio file of `seconds` in `form` (one of AUDIO_FORMS), written by lab.audio."""
    if form == "ulaw":
        return ulaw_wav_tone(seconds, hz=int(hz))
    return wav_tone(seconds, hz=hz, rate=16000 if form == "pcm16" else 8000)


EMPTY_AUDIO: Mapping[str, bytes] = types.MappingProxyType({})

#: Caller numbers the provider sends: international, national, 00-international, withheld.
CALLERS = ("+4915100000001", "015100000002", "004915100000003", "anonymous", "030777")


@dataclass(frozen=True)
class Case:
    name: str
    number: str
    presses: tuple[str, ...]
    caller: str = "anonymous"


@dataclass
class Generated:
    site: dict[str, Any]
    night: list[str]
    cases: list[Case]
    #: Numbers put on the phones' blocklist in astdb.
    blocked: list[str] = field(default_factory=list)
    #: The site's audio files (name in the config directory -> bytes) and their true lengths
    #: (the generator's, not the loader's: what explain's figure is compared with).
    audio: dict[str, bytes] = field(default_factory=dict)
    audio_seconds: dict[str, float] = field(default_factory=dict)
    #: Phones with do-not-disturb on in astdb.
    dnd: list[str] = field(default_factory=list)
    #: Phone -> kind (always, busy, noanswer) -> number: forwards in astdb.
    forwards: dict[str, dict[Forward, str]] = field(default_factory=dict)


def _rules(rng: random.Random) -> list[dict[str, Any]]:
    rules = []
    for _ in range(rng.randint(1, 3)):
        days = sorted(rng.sample(range(7), rng.randint(1, 7)))
        start = rng.randint(0, 22)
        end = rng.randint(start + 1, 24)
        rules.append(
            {
                "days": [("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in days],
                "start": f"{start:02d}:{rng.choice((0, 30)):02d}",
                "end": f"{end:02d}:00",
            }
        )
    return rules


def _condition(rng: random.Random, now: datetime.datetime, targets: list[str]) -> dict[str, Any]:
    """A time condition whose answer does not change within five minutes of `now`."""
    for _ in range(100):
        zone = rng.choice(TIMEZONES)
        local = now.astimezone(zoneinfo.ZoneInfo(zone)).date()
        holidays = []
        if rng.random() < 0.3:
            first = local - datetime.timedelta(days=rng.randint(0, 2))
            last = first + datetime.timedelta(days=rng.randint(0, 3))
            holidays.append(f"{first}..{last}" if last != first else f"{first}")
        if rng.random() < 0.3:
            holidays.append(str(local + datetime.timedelta(days=rng.randint(3, 30))))
        data = {
            "timezone": zone,
            "open": _rules(rng),
            "holidays": holidays,
            "when_open": rng.choice(targets),
            "when_closed": rng.choice(targets),
        }
        condition = TimeCondition.model_validate(data)
        answers = {
            time_decision(condition, now + datetime.timedelta(minutes=m))[0] for m in (-5, 0, 5)
        }
        if len(answers) == 1:
            return data
    raise RuntimeError("no stable schedule found")


def generate(rng: random.Random, now: datetime.datetime, calls: int, prefix: str) -> Generated:
    """A random valid site with call flows and `calls` random calls into it."""
    plan: dict[str, Any] = {
        "extensions": {"11": "desk", "12": "kitchen", "13": "hall"},
        "ring_time": rng.randint(5, 7),
        "ring_groups": {},
        "menus": {},
        "time_conditions": {},
        "announcements": {},
        "inbound": {},
    }
    causes = [f"hangup:{c}" for c in CAUSE_CODES] + ["hangup"]
    targets: list[str] = [*PHONES, "voicemail:desk", *causes]
    for index in range(rng.randint(0, 2)):
        name = f"group{index}"
        group: dict[str, Any] = {
            "endpoints": rng.sample(PHONES, rng.randint(1, 3)),
            "ring_time": rng.randint(5, 7),
        }
        roll = rng.random()
        if roll < 0.4:
            group["fallback"] = rng.choice([*PHONES, *plan["ring_groups"]])
        elif roll < 0.6:
            group["voicemail"] = "desk"
        plan["ring_groups"][name] = group
        targets.append(name)
    audio, audio_seconds = _site_audio(rng)
    site_greetings = [f"{REFERENCE_PREFIX}{n}" for n in audio if n.startswith("greet")]
    site_sounds = [f"{REFERENCE_PREFIX}{n}" for n in audio if n.startswith("note")]

    def prompt(installed: Sequence[str], site_files: list[str]) -> str:
        # A site with files plays mostly its own, but some installed prompts too.
        return rng.choice(site_files if site_files and rng.random() < 0.7 else installed)

    # A site with direct dialling (11, 12, 13 from a menu): its callers press whole extension
    # numbers in any of its menus, and Asterisk acts on the first digit of a press in a menu
    # without direct dialling, so no menu of such a site has option 1 (a press of 1x is then
    # invalid everywhere: its other digit is lost in the invalid prompt's Playback).
    dialling = rng.random() < 0.3
    flows: list[str] = []
    for index in range(rng.randint(1, 5)):
        kind = rng.choice(("menu", "time", "announce"))
        name = f"{kind}{index}"
        if kind == "menu":
            digits = rng.sample(DIGITS.replace("1", "") if dialling else DIGITS, rng.randint(1, 3))
            direct = dialling and rng.random() < 0.7
            plan["menus"][name] = {
                "direct_dial": direct,
                "greeting": prompt(GREETINGS, site_greetings),
                "options": {d: rng.choice(targets) for d in digits},
                "timeout": rng.randint(1, 3),
                "retries": rng.randint(0, 2),
                "on_timeout": rng.choice(targets),
                "on_invalid": rng.choice(targets),
            }
            if site_sounds and rng.random() < 0.5:
                plan["menus"][name]["invalid_sound"] = rng.choice(site_sounds)
        elif kind == "time":
            condition = _condition(rng, now, targets)
            condition["override"] = f"*3{index}"
            plan["time_conditions"][name] = condition
        else:
            plan["announcements"][name] = {
                "sound": prompt(ANNOUNCEMENTS, site_sounds),
                "then": rng.choice(targets),
            }
        flows.append(name)
        targets.append(name)
    dids = []
    for index, target in enumerate([*flows, *rng.sample(targets, 2)]):
        did = f"+49301000{index:02d}"
        dids.append(did)
        plan["inbound"][did] = target
    if rng.random() < 0.5:
        plan["inbound"]["any"] = rng.choice(targets)
    site = {
        "addresses": {"ipv6": netns.POD_V6},
        "trunks": {"provider": {"hosts": [netns.PROVIDER_V6], "dids": dids}},
        "endpoints": {
            name: {"auth": {"password_secret": f"{name}-password"}, "qualify": 0} for name in PHONES
        },
        "dialplan": plan,
    }
    site["endpoints"]["desk"]["voicemail"] = {"pin_secret": "desk-pin"}
    if rng.random() < 0.7:
        site["trunks"]["provider"]["country_code"] = "49"
    blocked: list[str] = []
    if rng.random() < 0.6:
        normal = ["+4915100000001", "+4915100000002", "+4915100000003", "+4930777"]
        plan["screening"] = {
            "reject_anonymous": rng.random() < 0.5,
            "blocklist": rng.sample(normal, rng.randint(0, 2)),
            "blocked": rng.choice(targets),
            "block_code": "*60",
        }
        blocked = rng.sample(normal, rng.randint(0, 2))
    night = [n for n in plan["time_conditions"] if rng.random() < 0.3]
    keys = sorted({d for m in plan["menus"].values() for d in m["options"]} | {"5", "#"})
    if any(m["direct_dial"] for m in plan["menus"].values()):
        # A lone 1 would wait for more digits there (Asterisk's digit timeout), so the caller
        # presses whole extension numbers instead.
        keys = [k for k in keys if k != "1"] + ["11", "12", "13"]
    numbers = dids + (["pod1", "s"] if "any" in plan["inbound"] else [])
    cases = [
        Case(
            f"{prefix}c{index}",
            rng.choice(numbers),
            tuple(rng.choice(keys) for _ in range(rng.randint(0, 3))),
            rng.choice(CALLERS),
        )
        for index in range(calls)
    ]
    dnd, forwards = _phone_state(rng, list(plan["extensions"]))
    # Only the files the site names (a site file nobody plays is not written either).
    used = {
        sound.removeprefix(REFERENCE_PREFIX)
        for flow in (*plan["menus"].values(), *plan["announcements"].values())
        for sound in (flow.get("greeting"), flow.get("invalid_sound"), flow.get("sound"))
        if sound is not None and sound.startswith(REFERENCE_PREFIX)
    }
    audio = {name: data for name, data in audio.items() if name in used}
    audio_seconds = {name: audio_seconds[name] for name in audio}
    return Generated(site, night, cases, blocked, audio, audio_seconds, dnd, forwards)


def _phone_state(
    rng: random.Random, extensions: list[str]
) -> tuple[list[str], dict[str, dict[Forward, str]]]:
    """Half the sites get phones with do-not-disturb or forwards in astdb (set before the calls,
    as night mode is); a forward's target is one of the site's extensions (a phone, itself
    included: a forwarded call is not forwarded again)."""
    dnd: list[str] = []
    forwards: dict[str, dict[Forward, str]] = {}
    if rng.random() < 0.5:
        return dnd, forwards
    for phone in PHONES:
        if rng.random() < 0.25:
            dnd.append(phone)
        if rng.random() < 0.4:
            kinds: list[Forward] = rng.sample(FORWARD_KINDS, rng.randint(1, 2))
            forwards[phone] = {kind: rng.choice(extensions) for kind in kinds}
    return dnd, forwards


def _site_audio(rng: random.Random) -> tuple[dict[str, bytes], dict[str, float]]:
    """Half the sites get site audio files: greetings (greetN.wav) and announcements
    (noteN.wav) of random lengths and forms."""
    files: dict[str, bytes] = {}
    seconds: dict[str, float] = {}
    if rng.random() < 0.5:
        return files, seconds
    for stem, bounds in (("greet", GREETING_SECONDS), ("note", ANNOUNCEMENT_SECONDS)):
        for index in range(rng.randint(1, 2)):
            name = f"{stem}{index}.wav"
            seconds[name] = _length(rng, bounds)
            files[name] = audio_bytes(
                rng.choice(AUDIO_FORMS), seconds[name], rng.randint(3, 9) * 100
            )
    return files, seconds


def secrets_mount() -> Mount:
    values = {f"{name}-password": password for name, password in PASSWORDS.items()}
    values["desk-pin"] = "2468"
    return Mount(path=Path("/secrets"), files={k: v.encode() for k, v in values.items()})


def load(site: dict[str, Any], audio: Mapping[str, bytes] = EMPTY_AUDIO) -> LoadedSite:
    """The site as the supervisor loads it, its audio files beside site.yaml (a ConfigMap's
    binaryData)."""
    text = yaml.safe_dump(site, sort_keys=False)
    files = {"site.yaml": text.encode(), **audio}
    return load_site([Mount(path=Path("/config"), files=files)], [secrets_mount()])


@dataclass
class Timeline:
    """The caller's key presses ((pause, digits) for dtmf_pcap) and how long after the answer
    the call is over, by the prediction."""

    plan: list[tuple[float, str]] = field(default_factory=list)
    seconds: float = 0.0


def played_seconds(step: Step, rootfs: Path) -> float:
    """How long the prompt of `step` plays, by the prediction: a site file's length is
    explain's own figure (`sound_seconds`); an installed prompt's the GSM file's."""
    if step.sound.startswith(REFERENCE_PREFIX):
        return step.sound_seconds
    return prompt_seconds(rootfs, step.sound)


def timeline(result: Explanation, rootfs: Path) -> Timeline:
    out = Timeline()
    t: float | None = None  # seconds since the answer; None: not answered yet
    attempt = greeting = 0.0
    pressed = 0.0
    for step in result.steps:
        if t is None and step.kind in ("menu", "announcement", "voicemail"):
            t = 0.0
        if t is None:
            continue
        if step.kind == "menu":
            attempt, greeting = t, played_seconds(step, rootfs)
            wait = step.seconds
        elif step.kind == "timeout":
            t = attempt + greeting + wait
        elif step.kind == "press":
            at = attempt + PRESS_AT
            out.plan.append((at - pressed, step.press))
            pressed = at + PRESS_S * len(step.press)
            t = pressed + (played_seconds(step, rootfs) if step.sound else 0.0)
        elif step.kind == "announcement":
            t += played_seconds(step, rootfs)
        elif step.kind == "ring":
            t += step.seconds
    out.seconds = (t or 0.0) + 2.0
    return out


@dataclass
class Observed:
    rings: list[tuple[tuple[str, ...], float]]
    voicemail: str | None
    cause: str | None
    #: Each Playback of the call: (prompt, seconds until the channel's next step).
    playbacks: list[tuple[str, float]] = field(default_factory=list)
    #: Each menu greeting (Background), likewise.
    greetings: list[tuple[str, float]] = field(default_factory=list)

    def named(self, name: Callable[[str], str]) -> Observed:
        """The same, each prompt as `name` maps Asterisk's argument (a stored site file's
        path -> its audio:NAME)."""
        return Observed(
            self.rings,
            self.voicemail,
            self.cause,
            [(name(p), s) for p, s in self.playbacks],
            [(name(p), s) for p, s in self.greetings],
        )


def _stamp(event: dict[str, str]) -> float:
    return float(event.get("Timestamp", "0"))


def observe(events: Sequence[dict[str, str]], name: str) -> Observed | None:
    """What Asterisk did with the call of case `name` (the caller's display name; None while
    its channel is up)."""
    unique = next(
        (
            e["Uniqueid"]
            for e in events
            if e.get("Event") == "Newchannel" and e.get("CallerIDName") == name
        ),
        None,
    )
    if unique is None:
        return None
    mine = [e for e in events if e.get("Uniqueid") == unique or e.get("Linkedid") == unique]
    hangup = next(
        (e for e in mine if e.get("Event") == "Hangup" and e.get("Uniqueid") == unique), None
    )
    if hangup is None:
        return None
    rings: list[tuple[tuple[str, ...], float]] = []
    open_dial: dict[str, float] = {}
    group: list[str] = []
    start = end = 0.0
    for e in mine:
        # The phones rung, by any channel of the call: a forward rings its target from a Local
        # channel (supervisor-phone dials Local/NUMBER@context), linked to the caller's.
        if e.get("Event") == "DialBegin" and e.get("DestChannel", "").startswith("PJSIP/"):
            if not open_dial and group:
                rings.append((tuple(sorted(group)), end - start))
                group = []
            if not open_dial and not group:
                start = _stamp(e)
            endpoint = e.get("DestChannel", "").removeprefix("PJSIP/").rsplit("-", 1)[0]
            open_dial[e.get("DestUniqueid", "")] = _stamp(e)
            group.append(endpoint)
        elif e.get("Event") == "DialEnd" and e.get("DestUniqueid", "") in open_dial:
            open_dial.pop(e.get("DestUniqueid", ""))
            end = _stamp(e)
    if group:
        rings.append((tuple(sorted(group)), end - start))
    voicemail = next(
        (
            e.get("AppData", "").split("@")[0]
            for e in mine
            # The caller's channel, or the Local channel of a forward whose target has a box.
            if e.get("Event") == "Newexten" and e.get("Application") == "VoiceMail"
        ),
        None,
    )
    steps = [
        e for e in mine if e.get("Uniqueid") == unique and e.get("Event") in ("Newexten", "Hangup")
    ]

    def played(application: str) -> list[tuple[str, float]]:
        return [
            (e.get("AppData", ""), _stamp(after) - _stamp(e))
            for e, after in itertools.pairwise(steps)
            if e.get("Application", "").lower() == application
        ]

    return Observed(rings, voicemail, hangup.get("Cause"), played("playback"), played("background"))


def agreement(predicted: Explanation, seen: Observed, length: Callable[[str], float]) -> list[str]:
    """How the observation differs from the prediction (empty: they agree); `length`: a
    prompt's true length in seconds (each Playback, and each greeting the caller let finish,
    must last it within PLAYBACK_TOLERANCE_S; explain's figure for a site file must be it)."""
    problems = []
    played = [
        s.sound
        for s in predicted.steps
        if s.kind == "announcement" or (s.kind == "press" and s.sound)
    ]
    if played != [sound for sound, _ in seen.playbacks]:
        problems.append(f"played {[p for p, _ in seen.playbacks]}, predicted {played}")
    else:
        for sound, seconds in seen.playbacks:
            if abs(seconds - length(sound)) > PLAYBACK_TOLERANCE_S:
                problems.append(
                    f"{sound} played {seconds:.2f} s, its length is {length(sound):.2f} s"
                )
    # Menu greetings: each try's; a try ended by the timeout heard it whole (a press cuts it).
    tries = [
        (step.sound, after.kind == "timeout")
        for step, after in itertools.pairwise((*predicted.steps, Step("end", "")))
        if step.kind == "menu"
    ]
    if [sound for sound, _ in tries] != [sound for sound, _ in seen.greetings]:
        problems.append(
            f"greetings {[p for p, _ in seen.greetings]}, predicted {[p for p, _ in tries]}"
        )
    else:
        for (sound, whole), (_, seconds) in zip(tries, seen.greetings, strict=True):
            if whole and abs(seconds - length(sound)) > PLAYBACK_TOLERANCE_S:
                problems.append(
                    f"greeting {sound} played {seconds:.2f} s, its length is {length(sound):.2f} s"
                )
    for step in predicted.steps:
        if (
            step.sound.startswith(REFERENCE_PREFIX)
            and abs(step.sound_seconds - length(step.sound)) > 0.005
        ):
            true = length(step.sound)
            problems.append(f"explain gives {step.sound} {step.sound_seconds} s, it lasts {true} s")
    want = [(tuple(sorted(r)), s) for r, s in predicted.rings()]
    if [r for r, _ in want] != [r for r, _ in seen.rings]:
        problems.append(f"rang {[r for r, _ in seen.rings]}, predicted {[r for r, _ in want]}")
    else:
        for (_, s), (_, got) in zip(want, seen.rings, strict=True):
            if abs(s - got) > RING_TOLERANCE_S:
                problems.append(f"rang {got:.1f} s, predicted {s} s")
    outcome = predicted.outcome
    if outcome.kind == "voicemail":
        if seen.voicemail != outcome.detail:
            problems.append(f"voicemail {seen.voicemail}, predicted box {outcome.detail}")
    else:
        if seen.voicemail is not None:
            problems.append(f"voicemail {seen.voicemail}, predicted {outcome.kind}")
        if outcome.kind == "hangup" and seen.cause != outcome.detail:
            problems.append(f"hang-up cause {seen.cause}, predicted {outcome.detail}")
    return problems


def modules(files: Mapping[str, str]) -> set[str]:
    """The modules a rendered modules.conf loads."""
    return {
        line.split("=", 1)[1].strip()
        for line in files["modules.conf"].splitlines()
        if line.replace(" ", "").startswith("load=")
    }


def stored_seconds(suffix: str, data: bytes) -> float:
    """The length of a stored site audio file, read as Asterisk would by its extension."""
    if suffix in (".ulaw", ".alaw"):
        return len(data) / 8000
    with wave.open(io.BytesIO(data)) as w:
        return float(w.getnframes() / w.getframerate())


@dataclass
class Prompts:
    """The prompts a call of the applied site can play, as the lab knows them: an installed
    prompt's length from its GSM file; a site file's Playback argument (its stored copy) ->
    audio:NAME, and its true length; `problems`: stored copies that are not their file."""

    rootfs: Path
    stored: dict[str, str]
    seconds: dict[str, float]
    problems: list[str] = field(default_factory=list)

    def name(self, argument: str) -> str:
        """audio:NAME for the stored copy of a site file; anything else as it is."""
        return self.stored.get(argument, argument)

    def length(self, sound: str) -> float:
        if sound.startswith(REFERENCE_PREFIX):
            return self.seconds[sound.removeprefix(REFERENCE_PREFIX)]
        return prompt_seconds(self.rootfs, sound)


class FlowPbx(LabHarness):
    """One Asterisk whose dialplan is swapped for each random site (pbx_config reload)."""

    def __init__(self, rootfs: Path) -> None:
        super().__init__(rootfs)
        self.rootfs = rootfs
        self.context = RenderContext(
            ami_secret=secrets.token_hex(16),
            run_user="asterisk",
            directories=Directories.from_mapping(directories_section(self.run)),
        )
        self.test_secret = secrets.token_hex(16)
        self.asterisk = Asterisk(self.lab, self.run)
        self.ami: LabAmi | None = None
        self.media_port = 17000
        self.prompts = Prompts(rootfs, {}, {})
        self.modules: set[str] = set()

    def files(self, loaded: LoadedSite) -> dict[str, str]:
        files = render(loaded, self.context)
        # Test-only: event timestamps (ring durations) and a user allowed to read everything.
        files["manager.conf"] = files["manager.conf"].replace(
            "[general]\n", "[general]\ntimestampevents = yes\n", 1
        ) + (
            f"\n[labtest]\nsecret = {self.test_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
            "permit = 127.0.0.1/255.255.255.255\nread = all\nwrite = all\n"
        )
        return files

    def write_audio(self, loaded: LoadedSite, seconds: Mapping[str, float]) -> Prompts:
        """Write the site's audio files where the rendered dialplan plays them (as the applier
        does: render_audio's content-addressed names, readable by Asterisk's group), and check
        each stored copy is its file: the name's hash is the copy's, the copy's length the
        generator's."""
        _, gid = asterisk_ids(self.rootfs)
        inside = directory(self.context)
        where = self.run.path("etc") / AUDIO_DIR
        where.mkdir(mode=0o750, exist_ok=True)
        os.chown(where, 0, gid)
        for name, data in render_audio(loaded.site, loaded.audio).items():
            (where / name).write_bytes(data)
            os.chown(where / name, 0, gid)
            (where / name).chmod(0o640)
        play = player(loaded.audio, self.context)
        prompts = Prompts(self.rootfs, {}, dict(seconds))
        for name, length in seconds.items():
            argument = play(f"{REFERENCE_PREFIX}{name}")
            prompts.stored[argument] = f"{REFERENCE_PREFIX}{name}"
            stem = argument.removeprefix(f"{inside}/")
            copies = list(where.glob(f"{stem}.*"))
            if argument == stem or len(copies) != 1:
                prompts.problems.append(f"{name}: Playback({argument}) names no stored copy")
                continue
            data = copies[0].read_bytes()
            if not stem.endswith("-" + hashlib.sha256(data).hexdigest()[:16]):
                prompts.problems.append(f"{name}: {copies[0].name} is not its content's name")
            stored = stored_seconds(copies[0].suffix, data)
            if abs(stored - length) > 0.001:
                prompts.problems.append(f"{name}: stored copy lasts {stored} s, not {length} s")
        return prompts

    def command(self, command: str) -> None:
        assert self.ami is not None
        reply = self.ami.action({"Action": "Command", "Command": command})
        if not reply or reply[0].get("Response") != "Success":
            raise RuntimeError(f"{command} failed: {reply}")

    def start(self, site: dict[str, Any], audio: Mapping[str, bytes] = EMPTY_AUDIO) -> FlowPbx:
        """Asterisk up with `site` (and its audio files), the phones registered."""
        loaded = load(site, audio)
        self.write_audio(loaded, {name: file.seconds for name, file in loaded.audio.items()})
        files = self.files(loaded)
        self.modules = modules(files)
        write_config(self.run, files)
        self.asterisk.start()
        self.stoppers.append(self.asterisk.stop)
        self.ami = LabAmi(self.lab.pod, "labtest", self.test_secret)
        self.stoppers.append(self.ami.close)
        self.ami.connect()
        self.ami.wait_fully_booted()
        phones = Phones(self.lab, self.run)
        self.stoppers.append(phones.stop)
        phones._address()
        ringer = sipp.Sipp(self.lab, self.run, "provider", [], name="flow-ringer")
        ringer.args = ["-sf", ringer.scenario("uas_ring.xml"), "-i", PHONES_V6]
        ringer.args += ["-p", str(RINGER_PORT), "-aa", "-m", "1000000"]
        ringer.start()
        phones.processes.append(ringer)
        phones.register(PASSWORDS)
        return self

    def apply(self, generated: Generated) -> LoadedSite:
        """The site's dialplan live (its audio files first), and its night switches in astdb."""
        assert self.ami is not None
        loaded = load(generated.site, generated.audio)
        self.prompts = self.write_audio(loaded, generated.audio_seconds)
        files = self.files(loaded)
        write_config(self.run, files)
        # A dialplan reload loads no module: load what this site needs and the boot site did
        # not (func_logic for screening's IF, ...), as a restart would.
        for module in sorted(modules(files) - self.modules):
            reply = self.ami.action({"Action": "ModuleLoad", "Module": module, "LoadType": "load"})
            if not reply or reply[0].get("Response") != "Success":
                raise RuntimeError(f"loading {module} failed: {reply}")
            self.modules.add(module)
        self.command("dialplan reload")
        self.ami.action({"Action": "DBDelTree", "Family": "supervisor-night"})
        for name in generated.night:
            self.ami.action(
                {"Action": "DBPut", "Family": "supervisor-night", "Key": name, "Val": "1"}
            )
        self.ami.action({"Action": "DBDelTree", "Family": "supervisor-block"})
        for number in generated.blocked:
            self.ami.action(
                {"Action": "DBPut", "Family": "supervisor-block", "Key": number, "Val": "1"}
            )
        for family in (DND_FAMILY, *FORWARD_FAMILIES.values()):
            self.ami.action({"Action": "DBDelTree", "Family": family})
        for name in generated.dnd:
            self.ami.action({"Action": "DBPut", "Family": DND_FAMILY, "Key": name, "Val": "1"})
        for name, forwards in generated.forwards.items():
            for kind, number in forwards.items():
                family = FORWARD_FAMILIES[kind]
                self.ami.action({"Action": "DBPut", "Family": family, "Key": name, "Val": number})
        return loaded

    def dial_code(self, number: str, user: str = "desk") -> int | None:
        """Phone `user` (registered, digest auth) dials `number` (a feature code): the final
        SIP answer it got."""
        codes = dialer.dial(
            self.lab,
            self.run,
            "provider",
            PHONES_V6,
            f"[{netns.POD_V6}]:5060",
            [("code", number)],
            user=user,
            password=PASSWORDS[user],
            name=f"code-{user}-{number.replace('*', 's').replace('#', 'h')}",
        )
        return codes["code"]

    def db(self, family: str, key: str) -> str | None:
        """An astdb value (None: no such key)."""
        assert self.ami is not None
        reply = self.ami.action({"Action": "DBGet", "Family": family, "Key": key})
        values = [m.get("Val") for m in reply if m.get("Event") == "DBGetResponse"]
        return values[0] if values else None

    def lamp(self, exten: str) -> str:
        """What a BLF key subscribed to `exten` (in `extensions`) shows."""
        assert self.ami is not None
        state = {"Action": "ExtensionState", "Exten": exten, "Context": "extensions"}
        reply = self.ami.action(state)
        return reply[0].get("StatusText", "") if reply else ""

    def call(self, case: Case, plan: Timeline) -> sipp.Sipp:
        pcap = self.run.path("scenarios") / f"flow-{case.name}.pcap"
        pcap.parent.mkdir(exist_ok=True)
        # lead: the first press at its planned moment (after an announcement, not inside it).
        pcap.write_bytes(dtmf_pcap(plan.plan or [(0.1, "")], lead=True))
        text = (SCENARIOS / "uac_flow.xml").read_text()
        values = {
            "FROM_NAME": case.name,
            "FROM_USER": case.caller,
            "PCAP": self.run.inside(pcap),
            "HOLD_MS": str(int(plan.seconds * 1000) + 1000),
        }
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        scenario = self.run.path("scenarios") / f"uac-flow-{case.name}.xml"
        scenario.write_text(text)
        self.media_port += 2
        caller = sipp.Sipp(
            self.lab,
            self.run,
            "provider",
            [
                f"[{netns.POD_V6}]:5060",
                "-sf",
                self.run.inside(scenario),
                "-s",
                case.number,
                "-i",
                netns.PROVIDER_V6,
                "-p",
                "0",
                "-mp",
                str(self.media_port),
                "-m",
                "1",
                "-timeout",
                f"{int(plan.seconds) + 60}s",
            ],
            name=f"flow-{case.name}",
        )
        return caller.start()


@dataclass
class Result:
    case: Case
    predicted: Explanation
    observed: Observed | None
    problems: list[str]


def predict(
    loaded: LoadedSite, generated: Generated, case: Case, at: datetime.datetime
) -> Explanation:
    """explain's prediction for `case`, with the state the lab puts in astdb."""
    return explain(
        loaded.site,
        case.number,
        trunk="provider",
        caller=case.caller,
        at=at,
        presses=case.presses,
        night=generated.night,
        blocked=generated.blocked,
        audio_seconds={name: file.seconds for name, file in loaded.audio.items()},
        dnd=generated.dnd,
        forwards=generated.forwards,
    )


def covers(predicted: Explanation) -> set[str]:
    """The new flows a prediction goes through: a site file as a menu greeting, as a prompt
    (announcement or invalid key); a phone skipped for do-not-disturb; a forward's target rung."""
    found = set()
    forwarded = False
    for step in predicted.steps:
        if step.sound.startswith(REFERENCE_PREFIX):
            found.add("site greeting" if step.kind == "menu" else "site prompt")
        if step.kind == "dnd":
            found.add("do-not-disturb")
        forwarded = forwarded or step.kind == "forward"
        if forwarded and step.ring:
            found.add("forward target rung")
    return found


def covering(
    now: datetime.datetime, calls: int, prefix: str, wanted: Collection[str]
) -> tuple[int, Generated]:
    """The first seed (from 0; at most 1,000 tried) whose site and `calls` calls cover every
    one of `wanted` (see `covers`): a bounded, derandomized set of cases for CI."""
    for seed in range(1000):
        generated = generate(random.Random(seed), now, calls, prefix)
        loaded = load(generated.site, generated.audio)
        found: set[str] = set()
        for case in generated.cases:
            found |= covers(predict(loaded, generated, case, now))
        if found >= set(wanted):
            return seed, generated
    raise RuntimeError(f"no seed below 1,000 covers {sorted(wanted)}")


def run_cases(pbx: FlowPbx, generated: Generated, *, parallel: int = 4) -> list[Result]:
    """Every case of `generated` on `pbx` (already applied), `parallel` calls at a time."""
    assert pbx.ami is not None
    loaded = load(generated.site, generated.audio)
    prompts = pbx.prompts
    results: list[Result] = []
    pending = list(generated.cases)
    running: list[tuple[Case, Explanation, sipp.Sipp, float]] = []
    while pending or running:
        while pending and len(running) < parallel:
            case = pending.pop(0)
            predicted = predict(loaded, generated, case, datetime.datetime.now(datetime.UTC))
            plan = timeline(predicted, pbx.rootfs)
            running.append(
                (case, predicted, pbx.call(case, plan), time.monotonic() + plan.seconds + 60)
            )
        for item in list(running):
            case, predicted, caller, deadline = item
            assert caller.process is not None
            seen = observe(pbx.ami.events, case.name)
            if seen is not None and caller.process.poll() is not None:
                running.remove(item)
                found = agreement(predicted, seen.named(prompts.name), prompts.length)
                if any(s.sound.startswith(REFERENCE_PREFIX) for s in predicted.steps):
                    found += prompts.problems
                results.append(Result(case, predicted, seen, found))
            elif time.monotonic() > deadline:
                caller.stop()
                running.remove(item)
                results.append(Result(case, predicted, seen, ["no hang-up seen in time"]))
        time.sleep(0.1)
    return results


def report_line(result: Result) -> str:
    case = result.case
    verdict = "agree" if not result.problems else "DIFFER: " + "; ".join(result.problems)
    return f"{case.name} to {case.number} pressing {' '.join(case.presses) or '-'}: {verdict}"
