"""Where a call goes, from the site model alone: the path `asterisk-supervisor explain` prints.

The path follows what the rendered dialplan does (render/extensions.py, render/flows.py) for a
call nobody answers: which phones ring and for how long, which time rule or holiday decided, the
menu digits the caller presses (`presses`, one per menu; none: the caller waits), and the end
(a voicemail box, a hang-up cause). Night-mode switches, the phones' do-not-disturb and forwards
live in Asterisk's database, not in the model: they are taken as off unless named in `night`,
`dnd` and `forwards` (phone -> kind -> number; kinds of site/features.py).
"""

from __future__ import annotations

import datetime
import types
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from supervisor.site.audio import REFERENCE_PREFIX
from supervisor.site.features import Forward
from supervisor.site.flowchecks import flow_kinds
from supervisor.site.flows import CAUSE_CODES, DAYS, TimeCondition, date_span, minutes, parse_target
from supervisor.site.model import ANY_NUMBER
from supervisor.site.resolve import ResolvedSite
from supervisor.site.sections import caught

EMPTY: Mapping[str, float] = types.MappingProxyType({})
#: No real path is this long (flows cannot loop without key presses, and presses are finite).
MAX_STEPS = 500


@dataclass(frozen=True, slots=True)
class Step:
    """One thing that happens to the call. `ring`: the endpoints rung (for `seconds`); `sound`:
    the prompt played, `sound_seconds` its length when the site's own file (0: an installed
    sound, whose length the model does not hold); `press`: the digits the caller pressed."""

    kind: str
    text: str
    ring: tuple[str, ...] = ()
    seconds: int = 0
    sound: str = ""
    press: str = ""
    sound_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the call ends when nobody answers: `voicemail` (box number) or `hangup` (Q.850
    cause code), or `unrouted` (the trunk's context has no such number)."""

    kind: str
    detail: str


@dataclass(frozen=True)
class Explanation:
    steps: tuple[Step, ...]
    outcome: Outcome
    #: Menu presses that were not used (the call never reached another menu).
    unused: tuple[str, ...] = field(default=())

    def rings(self) -> list[tuple[tuple[str, ...], int]]:
        """The ringing, in order: (endpoints, seconds)."""
        return [(s.ring, s.seconds) for s in self.steps if s.ring]

    def text(self) -> str:
        lines = [f"{i}. {s.text}" for i, s in enumerate(self.steps, 1)]
        lines.append(f"end: {self.outcome.kind} {self.outcome.detail}")
        if self.unused:
            lines.append(f"(presses not used: {' '.join(self.unused)})")
        return "\n".join(lines) + "\n"


class _Walk:
    def __init__(
        self,
        site: ResolvedSite,
        at: datetime.datetime,
        presses: Sequence[str],
        night: Collection[str],
        audio_seconds: Mapping[str, float],
        dnd: Collection[str] = (),
        forwards: Mapping[str, Mapping[Forward, str]] | None = None,
    ) -> None:
        self.site = site
        self.audio_seconds = audio_seconds
        self.at = at
        self.presses = list(presses)
        self.night = set(night)
        self.dnd = set(dnd)
        self.forwards = forwards or {}
        #: A forwarded call is not forwarded again (render/features.py).
        self.forwarded = False
        self.kinds = flow_kinds(site)
        self.steps: list[Step] = []

    def seconds(self, sound: str) -> float:
        """The length of a site audio file (`audio:NAME`), 0 for anything else."""
        return (
            self.audio_seconds.get(sound.removeprefix(REFERENCE_PREFIX), 0.0)
            if (sound.startswith(REFERENCE_PREFIX))
            else 0.0
        )

    def plays(self, sound: str) -> str:
        """`sound`, with its length when the site's own file."""
        length = self.seconds(sound)
        return f"{sound} ({length:.1f} s)" if length else sound

    def add(self, step: Step) -> None:
        if len(self.steps) >= MAX_STEPS:
            raise RuntimeError("the call path is longer than any real one")
        self.steps.append(step)

    def target(self, text: str, *, voicemail: bool = True) -> Outcome:
        ref = parse_target(text)
        if ref.kind == "hangup":
            code = CAUSE_CODES[ref.name]
            self.add(Step("hangup", f"hang up: {ref.name} (cause {code})"))
            return Outcome("hangup", str(code))
        if ref.kind == "voicemail":
            return self.voicemail(ref.name, "unavailable")
        kind = self.kinds[ref.name]
        if kind == "endpoint":
            return self.endpoint(ref.name, voicemail=voicemail)
        if kind == "ring group":
            return self.group(ref.name, voicemail=voicemail)
        if kind == "menu":
            return self.menu(ref.name)
        if kind == "time condition":
            return self.time(ref.name)
        announcement = self.site.dialplan.announcements[ref.name]
        sound = announcement.sound
        text = f"announcement {ref.name}: answers, plays {self.plays(sound)}"
        self.add(Step("announcement", text, sound=sound, sound_seconds=self.seconds(sound)))
        return self.target(announcement.then)

    def voicemail(self, endpoint: str, greeting: str) -> Outcome:
        number = self.site.mailbox_number(endpoint)
        self.add(Step("voicemail", f"voicemail box {number} ({endpoint}), {greeting} greeting"))
        return Outcome("voicemail", number)

    def endpoint(self, name: str, *, voicemail: bool) -> Outcome:
        featured = self.site.featured(name)
        forwards = self.forwards.get(name, {}) if featured and not self.forwarded else {}
        if featured and name in self.dnd:
            self.add(Step("dnd", f"{name} has do-not-disturb on: not rung (no answer)"))
            return self.unanswered(name, voicemail=voicemail)
        if "always" in forwards:
            return self.forward(name, forwards["always"], "every call", voicemail=voicemail)
        seconds = self.site.dialplan.ring_time
        busy = f" (busy: forwarded to {forwards['busy']})" if "busy" in forwards else ""
        self.add(Step("ring", f"rings {name} for {seconds} s{busy}", (name,), seconds))
        if "noanswer" in forwards:
            return self.forward(name, forwards["noanswer"], "no answer", voicemail=voicemail)
        return self.unanswered(name, voicemail=voicemail)

    def unanswered(self, name: str, *, voicemail: bool) -> Outcome:
        """The no-answer path of a phone: its box, or hang up."""
        if voicemail and self.site.endpoints[name].voicemail is not None:
            return self.voicemail(name, "unavailable (busy: the busy greeting)")
        self.add(Step("hangup", "nobody answered: hang up"))
        return Outcome("hangup", "16")

    def forward(self, name: str, number: str, why: str, *, voicemail: bool) -> Outcome:
        """A forward: `number` dialled as the phone would dial it (its own context); a box
        that answers there ends the call, anything else goes on with the phone's no-answer
        path."""
        endpoint = self.site.endpoints[name]
        self.forwarded = True
        text = f"{name} forwards ({why}) to {number}, dialled from its context {endpoint.context}"
        self.add(Step("forward", text))
        extension = self.site.dialplan.extensions.get(number)
        if extension is not None and endpoint.context in ("internal", "local"):
            outcome = self.target(extension.ring, voicemail=extension.voicemail)
            if outcome.kind == "voicemail":
                return outcome
        else:
            self.add(Step("forward", f"{number} is no internal extension: out, if {name} may"))
        self.add(Step("forward", "the forward was not answered"))
        return self.unanswered(name, voicemail=voicemail)

    def group(self, name: str, *, voicemail: bool) -> Outcome:
        group = self.site.dialplan.ring_groups[name]
        # Members with do-not-disturb are skipped; the members' forwards are not followed.
        skipped = [m for m in group.endpoints if m in self.dnd and self.site.featured(m)]
        present = tuple(m for m in group.endpoints if m not in skipped)
        members = ", ".join(present)
        left_out = f" (do-not-disturb: {', '.join(skipped)})" if skipped else ""
        if present:
            text = f"ring group {name}: rings {members} for {group.ring_time} s{left_out}"
            self.add(Step("ring", text, present, group.ring_time))
        else:
            self.add(Step("dnd", f"ring group {name}: every member has do-not-disturb on"))
        if group.fallback is not None:
            self.add(Step("fallback", f"nobody answered: fallback {group.fallback}"))
            return self.target(group.fallback, voicemail=voicemail)
        if group.voicemail is not None and voicemail:
            return self.voicemail(group.voicemail, "unavailable (busy: the busy greeting)")
        self.add(Step("hangup", "nobody answered: hang up"))
        return Outcome("hangup", "16")

    def menu(self, name: str) -> Outcome:
        """Each attempt is a `menu` step (greeting, then `seconds` of waiting) ended by a
        `timeout` or a `press` step (with the invalid prompt as its sound if it leads nowhere)."""
        menu = self.site.dialplan.menus[name]
        options = "; ".join(f"{d} -> {t}" for d, t in menu.options.items())
        for attempt in range(menu.retries + 1):
            last = attempt == menu.retries
            greeting = self.plays(menu.greeting)
            what = f"menu {name}: answers, plays {greeting}, waits {menu.timeout} s"
            if attempt:
                what = f"menu {name}, try {attempt + 1}: plays {greeting} again"
            self.add(
                Step(
                    "menu",
                    f"{what} ({options})",
                    seconds=menu.timeout,
                    sound=menu.greeting,
                    sound_seconds=self.seconds(menu.greeting),
                )
            )
            if not self.presses:
                if last:
                    self.add(Step("timeout", f"no digit: on_timeout {menu.on_timeout}"))
                    return self.target(menu.on_timeout)
                self.add(Step("timeout", "no digit"))
                continue
            press = self.presses.pop(0)
            dialable = self.site.dialplan.extensions if menu.direct_dial else {}
            taken = dialled(press, {*menu.options, *dialable})
            # Asterisk goes on as soon as the digits so far can match nothing longer: the rest
            # of the press is not waited for.
            rest = f" (acted on {taken}: {press[len(taken) :]} not waited for)" if taken else ""
            if taken in menu.options:
                text = f"caller pressed {press}{rest if taken != press else ''}"
                self.add(Step("press", f"{text}: {menu.options[taken]}", press=press))
                return self.target(menu.options[taken])
            extension = dialable.get(taken)
            if extension is not None:
                text = f"caller dialled extension {taken}: {extension.ring}"
                self.add(Step("press", text, press=press))
                return self.target(extension.ring, voicemail=extension.voicemail)
            then = f"on_invalid {menu.on_invalid}" if last else "again"
            invalid = menu.invalid_sound
            text = f"caller pressed {press}: invalid, plays {self.plays(invalid)}; {then}"
            step = Step(
                "press", text, sound=invalid, press=press, sound_seconds=self.seconds(invalid)
            )
            self.add(step)
            if last:
                return self.target(menu.on_invalid)
        raise AssertionError("unreachable: the last attempt returns")

    def time(self, name: str) -> Outcome:
        condition = self.site.dialplan.time_conditions[name]
        is_open, why = time_decision(condition, self.at, night=name in self.night)
        branch = condition.when_open if is_open else condition.when_closed
        state = "open" if is_open else "closed"
        self.add(Step("time", f"time condition {name}: {state} ({why}): {branch}"))
        return self.target(branch)


def dialled(press: str, extensions: Collection[str]) -> str:
    """What Asterisk's digit matching makes of `press` among a menu's `extensions`: the first
    prefix that is one of them with none longer to wait for, the whole press if it is one, else
    "" (invalid: at some digit nothing can match)."""
    for end in range(1, len(press) + 1):
        prefix = press[:end]
        longer = any(e.startswith(prefix) and e != prefix for e in extensions)
        if not longer:
            return prefix if prefix in extensions else ""
    return press if press in extensions else ""


def time_decision(
    condition: TimeCondition, at: datetime.datetime, *, night: bool = False
) -> tuple[bool, str]:
    """Whether `condition` is open at `at` (an aware time), and which rule decided."""
    local = at.astimezone(zoneinfo.ZoneInfo(condition.timezone))
    shown = f"{DAYS[local.weekday()]} {local:%Y-%m-%d %H:%M} {condition.timezone}"
    if night:
        return False, f"night mode on, {shown}"
    for index, span in enumerate(condition.holidays):
        first, last = date_span(span)
        if first <= local.date() <= last:
            return False, f"holidays[{index}] {span}, {shown}"
    minute = local.hour * 60 + local.minute
    for index, rule in enumerate(condition.open):
        day = DAYS[local.weekday()]
        if day in rule.days and minutes(rule.start) <= minute < minutes(rule.end):
            return True, f"open[{index}] {'/'.join(rule.days)} {rule.start}-{rule.end}, {shown}"
    return False, f"no open rule matches {shown}"


def normalised(caller: str | None, country_code: str | None) -> str:
    """The caller's number as the screening subroutine makes it (render/flows.py): anything
    but digits and + is no number; 00... becomes +..., 0... +CC... with a country code."""
    if not caller or not set(caller) <= set("0123456789+"):
        return ""
    if caller.startswith("00"):
        return "+" + caller[2:]
    if caller.startswith("0") and country_code is not None:
        return f"+{country_code}{caller[1:]}"
    return caller


def screen(
    site: ResolvedSite, trunk: str, caller: str | None, listed: Collection[str]
) -> str | None:
    """Why the caller is refused (None: let through); `listed`: the numbers on the phones'
    blocklist in astdb."""
    screening = site.dialplan.screening
    if screening is None:
        return None
    number = normalised(caller, site.trunks[trunk].country_code)
    if not number:
        return "no caller number (anonymous): refused" if screening.reject_anonymous else None
    for index, entry in enumerate(screening.blocklist):
        if number == entry:
            return f"{number} is blocklist[{index}]"
    if screening.block_code is not None and number in listed:
        return f"{number} is on the phones' blocklist"
    return None


def default_trunk(site: ResolvedSite, number: str) -> str | None:
    """The trunk a number arrives on: the first listing it as a DID, else the first trunk."""
    for name, trunk in site.trunks.items():
        if number in trunk.dids:
            return name
    return next(iter(site.trunks), None)


def explain(
    site: ResolvedSite,
    number: str,
    *,
    trunk: str | None = None,
    caller: str | None = None,
    at: datetime.datetime,
    presses: Sequence[str] = (),
    night: Collection[str] = (),
    blocked: Collection[str] = (),
    audio_seconds: Mapping[str, float] = EMPTY,
    dnd: Collection[str] = (),
    forwards: Mapping[str, Mapping[Forward, str]] | None = None,
) -> Explanation:
    """The path of a call from `trunk` (default: the one listing `number`) to `number`.

    `at` must be timezone-aware; `caller`: the number the trunk sends (None: none); `blocked`:
    the numbers on the phones' blocklist in astdb (not in the model); `audio_seconds`: the
    length of each site audio file by name (`LoadedSite.audio`), shown where it plays;
    `dnd`, `forwards`: the phones' do-not-disturb and forwards in astdb."""
    walk = _Walk(site, at, presses, night, audio_seconds, dnd, forwards)
    trunk = trunk or default_trunk(site, number)
    who = f" from {caller}" if caller else ""
    if trunk is None or trunk not in site.trunks:
        walk.add(Step("inbound", f"call to {number}{who}: no such trunk"))
        return Explanation(tuple(walk.steps), Outcome("unrouted", "no trunk"))
    plan = site.dialplan
    listed = number in site.trunks[trunk].dids
    routed = plan.inbound.get(number) if listed else None
    anything = plan.inbound.get(ANY_NUMBER)
    head = f"call to {number}{who} on trunk {trunk}"
    refused = None
    if listed or anything is not None:
        refused = screen(site, trunk, caller, blocked)
    screening = site.dialplan.screening
    if refused is not None and screening is not None:
        walk.add(Step("screening", f"{head}: screening: {refused}: {screening.blocked}"))
        outcome = walk.target(screening.blocked)
    elif routed is not None:
        walk.add(Step("inbound", f"{head}: inbound {number} -> {routed}"))
        outcome = walk.target(routed)
    elif anything is not None and not listed and not caught(number):
        walk.add(Step("inbound", f"{head}: not a DID, and the any route takes no such number"))
        outcome = Outcome("unrouted", "not found")
    elif anything is not None:
        why = "listed without a route" if listed else "not a listed DID"
        walk.add(Step("inbound", f"{head}: {why}, inbound any -> {anything}"))
        outcome = walk.target(anything)
    elif listed:
        walk.add(Step("inbound", f"{head}: a DID without a route: hang up (cause 1)"))
        outcome = Outcome("hangup", "1")
    else:
        walk.add(Step("inbound", f"{head}: not a DID of the trunk: Asterisk refuses it"))
        outcome = Outcome("unrouted", "not found")
    return Explanation(tuple(walk.steps), outcome, tuple(walk.presses))


def explain_extension(
    site: ResolvedSite,
    number: str,
    *,
    at: datetime.datetime,
    presses: Sequence[str] = (),
    night: Collection[str] = (),
    audio_seconds: Mapping[str, float] = EMPTY,
    dnd: Collection[str] = (),
    forwards: Mapping[str, Mapping[Forward, str]] | None = None,
) -> Explanation:
    """The path of a phone's call to internal extension `number`."""
    walk = _Walk(site, at, presses, night, audio_seconds, dnd, forwards)
    extension = site.dialplan.extensions.get(number)
    if extension is None:
        walk.add(Step("extension", f"extension {number}: not an internal extension"))
        return Explanation(tuple(walk.steps), Outcome("unrouted", "not found"))
    walk.add(Step("extension", f"extension {number} -> {extension.ring}"))
    outcome = walk.target(extension.ring, voicemail=extension.voicemail)
    return Explanation(tuple(walk.steps), outcome, tuple(walk.presses))
