"""Call flows: what an incoming number or an internal extension leads to, in the site's YAML.

A *target* is written as one string:

- `NAME`: an endpoint, a ring group, a menu, a time condition or an announcement (one namespace);
- `voicemail:ENDPOINT`: straight into that endpoint's voicemail box;
- `hangup` or `hangup:CAUSE`: end the call with a chosen cause (normal, busy, rejected,
  unallocated, congestion).

Flows nest (a time condition's open branch is a menu whose option 1 is a ring group); the checks
in `flowchecks.py` refuse loops, dangling names and parts nothing reaches.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from supervisor.site.audio import AUDIO_NAME_RE, REFERENCE_PREFIX
from supervisor.site.grammar import NAME_RE, Bool, Extension, Int, Str
from supervisor.site.model_base import MODEL_CONFIG

HangupCause = Literal["normal", "busy", "rejected", "unallocated", "congestion"]
#: Q.850 cause codes Asterisk's Hangup() takes for each cause a site may choose.
CAUSE_CODES: dict[str, int] = {
    "normal": 16,
    "busy": 17,
    "rejected": 21,
    "unallocated": 1,
    "congestion": 34,
}
TargetKind = Literal["name", "voicemail", "hangup"]
MAX_FLOWS = 1000
MAX_RULES = 64
MAX_HOLIDAYS = 400

TARGET_RE = re.compile(
    rf"(?:voicemail:(?P<box>{NAME_RE.pattern})|hangup(?::(?P<cause>[a-z]+))?|(?P<name>{NAME_RE.pattern}))"
)


@dataclass(frozen=True, slots=True)
class TargetRef:
    """A parsed target: `kind` name (an endpoint, group, menu, time condition or announcement),
    voicemail (`name` is the endpoint) or hangup (`name` is the cause)."""

    kind: TargetKind
    name: str


def parse_target(text: str) -> TargetRef:
    """The target a (validated) target string names."""
    match = TARGET_RE.fullmatch(text)
    assert match is not None, f"an unvalidated target {text!r}"
    if match["box"] is not None:
        return TargetRef("voicemail", match["box"])
    if match["name"] is not None and text != "hangup":
        return TargetRef("name", match["name"])
    return TargetRef("hangup", match["cause"] or "normal")


def _target(value: str) -> str:
    match = TARGET_RE.fullmatch(value)
    if match is None or (match["cause"] is not None and match["cause"] not in CAUSE_CODES):
        shown = repr(value) if len(value) <= 60 else repr(value[:57] + "...")
        causes = ", ".join(CAUSE_CODES)
        raise ValueError(
            f"{shown} is not a target (a name, voicemail:ENDPOINT, hangup or hangup:CAUSE "
            f"with CAUSE one of {causes})"
        )
    return value


Target = Annotated[Str, AfterValidator(_target)]
SOUND_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}(?:/[a-z0-9][a-z0-9_-]{0,63}){0,2}")


def _audio(value: str) -> str:
    name = value.removeprefix(REFERENCE_PREFIX)
    if not value.startswith(REFERENCE_PREFIX) or not AUDIO_NAME_RE.fullmatch(name):
        raise ValueError(
            f"{value[:60]!r} is not an audio file of the site (audio:NAME, NAME a file in a "
            "config directory: lower-case letters, digits, '_', '-', then .wav, .ulaw or .alaw)"
        )
    return value


def _sound(value: str) -> str:
    if value.startswith(REFERENCE_PREFIX):
        return _audio(value)
    if not SOUND_RE.fullmatch(value):
        raise ValueError(
            f"{value[:60]!r} is not a sound name (lower-case letters, digits, '_', '-', up to "
            "two '/' folders, no extension: e.g. hours or digits/1) nor a site audio file "
            "(audio:NAME.wav)"
        )
    return value


#: A prompt Asterisk plays: a name of its sounds directory, without the format's extension, or
#: `audio:NAME`, a file of the site (site/audio.py).
Sound = Annotated[Str, AfterValidator(_sound)]
#: A file of the site only (`audio:NAME`).
AudioRef = Annotated[Str, AfterValidator(_audio)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK_RE = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")


def _clock(value: str) -> str:
    if not CLOCK_RE.fullmatch(value):
        raise ValueError(f"{value[:20]!r} is not a time of day (HH:MM, 00:00 to 24:00)")
    return value


Clock = Annotated[Str, AfterValidator(_clock)]


def minutes(clock: str) -> int:
    """Minutes since midnight of a validated HH:MM."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


DATE_SPAN_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?")


def date_span(text: str) -> tuple[datetime.date, datetime.date]:
    """First and last day of a validated `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD`."""
    match = DATE_SPAN_RE.fullmatch(text)
    assert match is not None
    first = datetime.date.fromisoformat(match[1])
    return first, datetime.date.fromisoformat(match[2]) if match[2] else first


def _date_span(value: str) -> str:
    match = DATE_SPAN_RE.fullmatch(value)
    problem = "is not a date (YYYY-MM-DD) or a range of dates (YYYY-MM-DD..YYYY-MM-DD)"
    if match is None:
        raise ValueError(f"{value[:40]!r} {problem}")
    try:
        first, last = date_span(value)
    except ValueError:
        raise ValueError(f"{value!r} {problem}") from None
    if last < first:
        raise ValueError(f"{value!r} ends before it starts")
    if first.year < 2000:
        raise ValueError(f"{value!r} is before the year 2000")
    return value


DateSpan = Annotated[Str, AfterValidator(_date_span)]
TZ_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,30}(?:/[A-Za-z0-9_+-]{1,30}){0,2}")


def _timezone(value: str) -> str:
    if not TZ_RE.fullmatch(value):
        raise ValueError(f"{value[:40]!r} is not a time zone name (e.g. Europe/Berlin)")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not in the time zone database") from None
    return value


TimeZone = Annotated[Str, AfterValidator(_timezone)]
Digit = Annotated[Str, Field(pattern=r"^[0-9*#]$")]


class Model(BaseModel):
    model_config = MODEL_CONFIG


class WeeklyRule(Model):
    """Open on these days from `start` (included) to `end` (excluded), local time."""

    days: Annotated[tuple[Day, ...], Field(min_length=1, max_length=7)]
    """Days of the week: mon, tue, wed, thu, fri, sat, sun."""
    start: Clock = "00:00"
    """Opening time, HH:MM (local time of the condition's time zone)."""
    end: Clock = "24:00"
    """Closing time, HH:MM, after start (24:00: midnight at the end of the day); a period past
    midnight is two rules."""

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyRule:
        if minutes(self.end) <= minutes(self.start):
            raise ValueError(
                f"end {self.end} is not after start {self.start} (split a period that "
                "crosses midnight into two rules)"
            )
        if self.start == "24:00":
            raise ValueError("start 24:00 is the end of the day")
        return self


class TimeCondition(Model):
    """Open or closed by a weekly schedule in a named time zone (correct across daylight saving
    changes), closed on holidays, and a night-mode switch a phone toggles with a feature code."""

    timezone: TimeZone
    """The time zone the schedule is in (tz database name, e.g. Europe/Berlin)."""
    open: Annotated[tuple[WeeklyRule, ...], Field(max_length=MAX_RULES)] = ()
    """When it is open: weekly rules (a time in any rule is open)."""
    holidays: Annotated[tuple[DateSpan, ...], Field(max_length=MAX_HOLIDAYS)] = ()
    """Closed all day on these dates (YYYY-MM-DD) or ranges (YYYY-MM-DD..YYYY-MM-DD)."""
    when_open: Target
    """Where calls go while open."""
    when_closed: Target
    """Where calls go while closed (outside the rules, on a holiday, or in night mode)."""
    override: Extension | None = None
    """A feature code phones dial to switch night mode on or off (closed whatever the time);
    kept in Asterisk's database on the persistent volume and shown as a BLF hint on that code."""


class Menu(Model):
    """An auto-attendant: plays the greeting, waits for a digit, goes where it leads."""

    greeting: Sound
    """The prompt played (and replayed on a retry); the caller may press a digit during it."""
    options: Annotated[dict[Digit, Target], Field(min_length=1, max_length=12)]
    """Digit (0-9, * or #) -> where it leads."""
    timeout: Annotated[Int, Field(ge=1, le=60)] = 5
    """Seconds waited for a digit after the greeting."""
    retries: Annotated[Int, Field(ge=0, le=9)] = 2
    """Times the greeting is replayed after no digit or a wrong one, before on_timeout or
    on_invalid."""
    invalid_sound: Sound = "pbx-invalid"
    """Played after a digit that leads nowhere."""
    on_timeout: Target = "hangup"
    """Where the call goes when no digit was pressed (after the retries)."""
    on_invalid: Target = "hangup"
    """Where the call goes after wrong digits (after the retries)."""
    direct_dial: Bool = False
    """Callers may also dial any internal extension (dialplan.extensions) from the menu."""


class Announcement(Model):
    """Answers, plays a prompt, then goes on."""

    sound: Sound
    """The prompt played."""
    then: Target = "hangup"
    """Where the call goes after the prompt."""


COUNTRY_CODE_RE = re.compile(r"[1-9][0-9]{0,2}")


def _country_code(value: str) -> str:
    if not COUNTRY_CODE_RE.fullmatch(value):
        raise ValueError(f"{value[:20]!r} is not a country calling code (1 to 3 digits, e.g. 49)")
    return value


#: An ITU country calling code without `+` (49 for Germany).
CountryCode = Annotated[Str, AfterValidator(_country_code)]
E164_RE = re.compile(r"\+[1-9][0-9]{1,18}")


def _e164(value: str) -> str:
    if not E164_RE.fullmatch(value):
        raise ValueError(f"{value[:30]!r} is not a number in international form (+ then digits)")
    return value


E164 = Annotated[Str, AfterValidator(_e164)]


class Screening(Model):
    """What happens before an incoming call from a trunk is routed: the caller's number is
    normalised (the trunk's country_code), callers without a usable number may be refused, and
    numbers on the blocklist (the site's, and the one phones manage with feature codes, kept in
    Asterisk's database on the persistent volume) go to `blocked`."""

    reject_anonymous: Bool = False
    """Send callers without a number (withheld, anonymous, or anything but digits and +) to
    `blocked`."""
    blocklist: Annotated[tuple[E164, ...], Field(max_length=1000)] = ()
    """Caller numbers (international form, +49...) sent to `blocked`."""
    blocked: Target = "hangup:rejected"
    """Where refused callers go (default: hang up with cause rejected, SIP 603)."""
    block_code: Extension | None = None
    """A feature code: a phone dials it followed by a number to add that number to the blocklist
    in Asterisk's database (e.g. *60 then 004930123456)."""
    unblock_code: Extension | None = None
    """A feature code: a phone dials it followed by a number to take it off that list."""
    country_code: CountryCode | None = None
    """The site's country calling code: numbers dialled after block_code in national form (0...)
    are stored as +CC...; 00... becomes +... either way."""


class HoldClass(Model):
    """A music-on-hold class made of the site's audio files, played in order and looped."""

    files: Annotated[tuple[AudioRef, ...], Field(min_length=1, max_length=32)]
    """The files (audio:NAME), in playing order."""
