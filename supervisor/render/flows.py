"""extensions.conf contexts of the call flows: a menu (`menu-NAME`), a time condition
(`time-NAME`), an announcement (`announce-NAME`), and the night-mode feature codes.

What a target leads to is given by the caller (`TargetApps`: extensions.py knows how to ring an
endpoint or a group). Every value written here comes from a grammar without `,()$;"\\` or spaces
(names, digits, prompt names, tz names, dates); the only variables read are the supervisor's own
(`FLOW_TRIES`, `FLOW_DAY`), the clock (`EPOCH`) and the night-mode flag in astdb, keyed by the
condition's name: nothing the caller sends reaches an argument.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor.render import callsafe
from supervisor.site.flows import Menu, TimeCondition, date_span, minutes
from supervisor.site.model import Site
from supervisor.site.sections import flow_context

Line = tuple[str, str]
#: A target string -> the applications that take the call there.
TargetApps = Callable[[str], list[str]]
Priorities = Callable[[str, list[str]], list[Line]]
#: A prompt -> the argument Playback and Background take for it.
Play = Callable[[str], str]
#: astdb family of the night-mode switches (key: the time condition's name; value 1: on).
NIGHT_FAMILY = "supervisor-night"
TRIES = "FLOW_TRIES"
DAY = "FLOW_DAY"


def night_device(name: str) -> str:
    """The custom device state a time condition's night mode is shown by (BLF)."""
    return f"Custom:night-{name}"


def _menu(
    name: str, menu: Menu, site: Site, apps: TargetApps, at: Priorities, play: Play
) -> list[Line]:
    lines = at(
        "s",
        [
            "Answer()",
            f"Set({TRIES}=0)",
            f"(again)Background({play(menu.greeting)})",
            f"WaitExten({menu.timeout})",
        ],
    )
    for digit, target in menu.options.items():
        lines += at(digit, apps(target))
    if menu.direct_dial:
        for number in site.dialplan.extensions:
            lines += at(number, [f"Goto(extensions,{number},1)"])
    retry = [f"Set({TRIES}=$[${{{TRIES}}}+1])", f"GotoIf($[${{{TRIES}}}<={menu.retries}]?s,again)"]
    lines += at("i", [f"Playback({play(menu.invalid_sound)})", *retry, *apps(menu.on_invalid)])
    lines += at("t", [*retry, *apps(menu.on_timeout)])
    return lines


def weekly_spec(start: str, end: str, days: tuple[str, ...], timezone: str) -> str:
    """GotoIfTime's condition for [start, end) on `days`: Asterisk's ranges include their last
    minute (pbx_timing.c), so the end is the minute before `end`."""
    last = minutes(end) - 1
    until = f"{last // 60:02d}:{last % 60:02d}"
    return f"{start}-{until},{'&'.join(days)},*,*,{timezone}"


def _time(name: str, condition: TimeCondition, apps: TargetApps, at: Priorities) -> list[Line]:
    steps = [f'GotoIf($["${{DB({NIGHT_FAMILY}/{name})}}"="1"]?closed,1)']
    if condition.holidays:
        steps.append(f"Set({DAY}=${{STRFTIME(${{EPOCH}},{condition.timezone},%Y%m%d)}})")
        for span in condition.holidays:
            first, last = date_span(span)
            lo, hi = first.strftime("%Y%m%d"), last.strftime("%Y%m%d")
            steps.append(f"GotoIf($[${{{DAY}}}>={lo}&${{{DAY}}}<={hi}]?closed,1)")
    for rule in condition.open:
        spec = weekly_spec(rule.start, rule.end, rule.days, condition.timezone)
        steps.append(f"GotoIfTime({spec}?open,1)")
    steps.append("Goto(closed,1)")
    lines = at("s", steps)
    lines += at("open", apps(condition.when_open))
    lines += at("closed", apps(condition.when_closed))
    return lines


def night_codes(site: Site, at: Priorities) -> list[Line]:
    """Each time condition's override code (in the phones' `extensions` context): toggles night
    mode in astdb (kept on the persistent volume) and the custom device state its BLF hint
    shows (Asterisk keeps custom device states in astdb too)."""
    lines: list[Line] = []
    for name, condition in site.dialplan.time_conditions.items():
        code = condition.override
        if code is None:
            continue
        key = f"{NIGHT_FAMILY}/{name}"
        device = night_device(name)
        lines.append(("exten", f"{code},hint,{device}"))
        lines += at(
            code,
            [
                # Written before anything answers: a phone hanging up at once still switched.
                f'GotoIf($["${{DB({key})}}"="1"]?off)',
                f"Set(DB({key})=1)",
                f"Set(DEVICE_STATE({device})=INUSE)",
                "Playback(activated)",
                "Hangup()",
                f"(off)Set(DB({key})=0)",
                f"Set(DEVICE_STATE({device})=NOT_INUSE)",
                "Playback(de-activated)",
                "Hangup()",
            ],
        )
    return lines


def flow_contexts(
    site: Site, apps: TargetApps, at: Priorities, play: Play = lambda sound: sound
) -> list[tuple[str, list[Line]]]:
    """(context name, its lines) of every flow; `play` turns a prompt into Playback's argument
    (a site audio file into its stored path: render/audio.py)."""
    plan = site.dialplan
    out: list[tuple[str, list[Line]]] = []
    for name, menu in plan.menus.items():
        out.append((flow_context("menu", name), _menu(name, menu, site, apps, at, play)))
    for name, condition in plan.time_conditions.items():
        out.append((flow_context("time condition", name), _time(name, condition, apps, at)))
    for name, announcement in plan.announcements.items():
        lines = at(
            "s", ["Answer()", f"Playback({play(announcement.sound)})", *apps(announcement.then)]
        )
        out.append((flow_context("announcement", name), lines))
    return out


#: astdb family of the phones' blocklist (key: the number in international form).
BLOCK_FAMILY = "supervisor-block"
CALLER = f"{callsafe.SAFE_PREFIX}CALLER"
BLOCKED = "blocked"
#: 1 when the screening subroutine refused the caller.
SCREENED = "FLOW_SCREENED"


def screen_context(trunk: str) -> str:
    return f"screen-{trunk}"


def screens(site: Site, trunk: str) -> bool:
    """Whether calls from `trunk` pass a screening subroutine first."""
    return site.dialplan.screening is not None or site.trunks[trunk].country_code is not None


def _normalise(variable: str, country_code: str | None) -> list[str]:
    """00... becomes +...; with a country code, 0... becomes +CC... (a filtered value: digits
    and + only, so the expressions read constants and that; rewritten by Set and IF only, as
    the call-safety checker requires of our variables)."""
    var = f"${{{variable}}}"
    apps = [f'Set({variable}=${{IF($["${{{variable}:0:2}}"="00"]?+${{{variable}:2}}:{var})}})']
    if country_code is not None:
        apps.append(
            f'Set({variable}=${{IF($["${{{variable}:0:1}}"="0"]?+{country_code}'
            f"${{{variable}:1}}:{var})}})"
        )
    return apps


def screening_context(site: Site, trunk: str, apps: TargetApps, at: Priorities) -> list[Line]:
    """The subroutine every call from `trunk` runs first: the caller's number filtered to digits
    and + (anything else: no number), normalised, shown normalised; sets FLOW_SCREENED to 1 for
    an anonymous caller (if refused) or a listed number."""
    allowed = callsafe.DIGITS + "+"
    steps = [
        f"Set({callsafe.REST}=${{REPLACE(CALLERID(num),{allowed})}})",
        f"Set({CALLER}=${{FILTER({allowed},${{CALLERID(num)}})}})",
        f"Set({CALLER}=${{IF($[${{FIELDQTY({callsafe.REST},-)}} > 0]?:${{{CALLER}}})}})",
        *_normalise(CALLER, site.trunks[trunk].country_code),
        f'ExecIf($["${{{CALLER}}}"!=""]?Set(CALLERID(num)=${{{CALLER}}}))',
        f"Set({SCREENED}=0)",
    ]
    screening = site.dialplan.screening
    if screening is not None:
        steps.append(f'GotoIf($["${{{CALLER}}}"=""]?anonymous)')
        for number in screening.blocklist:
            steps.append(f'GotoIf($["${{{CALLER}}}"="{number}"]?{BLOCKED})')
        if screening.block_code is not None:
            steps.append(f"GotoIf(${{DB_EXISTS({BLOCK_FAMILY}/${{{CALLER}}})}}?{BLOCKED})")
        steps.append("Return()")
        steps.append("(anonymous)NoOp()" if screening.reject_anonymous else "(anonymous)Return()")
        steps += [f"({BLOCKED})Set({SCREENED}=1)", "Return()"]
    else:
        steps.append("Return()")
    lines = at("s", steps)
    if screening is not None:
        lines += at(BLOCKED, apps(screening.blocked))
    return lines


def screened(trunk: str) -> list[str]:
    """The first applications of every inbound extension of a screened trunk."""
    context = screen_context(trunk)
    return [f"Gosub({context},s,1)", f"GotoIf($[${{{SCREENED}}}=1]?{context},{BLOCKED},1)"]


def block_codes(site: Site, at: Priorities) -> list[Line]:
    """The phones' codes that add a number to the blocklist in astdb, or take it off: the
    dialled digits after the code are filtered (refused with cause 28 if anything else was
    dialled), normalised, and only then used as the key."""
    screening = site.dialplan.screening
    if screening is None:
        return []
    lines: list[Line] = []
    for code, write, sound in (
        (screening.block_code, "Set(DB({key})=1)", "activated"),
        (screening.unblock_code, "Set(UNBLOCKED=${{DB_DELETE({key})}})", "de-activated"),
    ):
        if code is None:
            continue
        allowed = callsafe.DIGITS + "".join(c for c in "*#" if c in code)
        number = f"{callsafe.SAFE_PREFIX}BLOCK"
        key = f"{BLOCK_FAMILY}/${{{number}}}"
        lines += at(
            f"_{code}X.",
            [
                *callsafe.guarded(allowed),
                f"Set({number}={callsafe.safe(skip=len(code))})",
                *_normalise(number, screening.country_code),
                write.format(key=key),
                f"Playback({sound})",
                "Hangup()",
            ],
        )
    return lines
