"""extensions.conf: internal extensions, ring groups with fallback, inbound DIDs per trunk,
outbound patterns to trunks, the doorbell, and voicemail (a message on no answer or busy, the
access extensions).

Contexts: `extensions` (internal numbers), `outbound` (patterns to trunks), `internal`
(both: the default for phones), `local` (internal numbers only), `doorbell`, `from-<trunk>` and
`ring-<group>`. Every value written here comes from a grammar without `,()$;"\\` and spaces; the
few expressions with `$[...]` are constants of this module. What a caller dials reaches an
application only through `callsafe` (refused unless it is the route's characters, then filtered);
the output guard proves it of the rendered text (`callcheck`).
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor.render import callsafe, features, flows
from supervisor.render.conf import GENERATED, document, section
from supervisor.render.voicemail import BOX_VARIABLE, CONTEXT, mailbox
from supervisor.site.flowchecks import kind_of
from supervisor.site.flows import CAUSE_CODES, parse_target
from supervisor.site.model import ANY_NUMBER
from supervisor.site.resolve import ResolvedSite
from supervisor.site.sections import (
    CATCH_ALL,
    PHONE_RING,
    VOICEMAIL_RESULT,
    flow_context,
    limit_context,
    ring_group_context,
    trunk_context,
)

Line = tuple[str, str]
# Anything a doorbell may dial (the rest of the dialled string is checked at call time).
DOORBELL_EXTENSIONS = CATCH_ALL
DOORBELL_CHARACTERS = callsafe.DIGITS + callsafe.LETTERS + callsafe.NUMBER_EXTRAS
# Whatever a trunk sends that no DID names (an account name, `s`): the inbound `any` route.
ANY_EXTENSIONS = DOORBELL_EXTENSIONS
# The ring-group entry that never ends in voicemail (an extension with `voicemail: false`).
NO_VOICEMAIL = "novm"
BUSY = '$["${DIALSTATUS}"="BUSY"]'


def _priorities(exten: str, apps: list[str]) -> list[Line]:
    """`exten => X,1,App` then `same => n,App`; an app written `(label)App` gets that label."""
    lines = [("exten", f"{exten},1,{apps[0]}")]
    for app in apps[1:]:
        label = ""
        if app.startswith("("):
            name, app = app[1:].split(")", 1)
            label = f"({name})"
        lines.append(("same", f"n{label},{app}"))
    return lines


# VoiceMail() sets VMSTATUS (SUCCESS only when a message was saved: not when the caller hangs up
# during the greeting or leaves less than the minimum); the hangup handler pushed before it writes
# that on the call record as a CEL user event (supervisor/records, docs/records.md).
VOICEMAIL_RESULT_LINES: list[Line] = [
    ("exten", "s,1,CELGenUserEvent(VOICEMAIL,${VMSTATUS})"),
    ("same", "n,Return()"),
]


def _voicemail(box: str, greeting: str, label: str = "") -> list[str]:
    """VoiceMail() with its result recorded when the channel hangs up (`label` on the first)."""
    push = f"Set(CHANNEL(hangup_handler_push)={VOICEMAIL_RESULT},s,1)"
    return [f"({label}){push}" if label else push, f"VoiceMail({box},{greeting})"]


def _leave_message(number: str) -> list[str]:
    """After a Dial nobody answered: the box's busy greeting if every callee was busy, its
    unavailable greeting otherwise (no answer, not registered)."""
    box = mailbox(number)
    return [
        f"GotoIf({BUSY}?busy)",
        *_voicemail(box, "u"),
        "Hangup()",
        *_voicemail(box, "b", label="busy"),
        "Hangup()",
    ]


def group_box(site: ResolvedSite, group: str) -> str | None:
    """The endpoint whose box a ring group ends in, following fallbacks (checked loop-free)."""
    groups = site.dialplan.ring_groups
    seen: set[str] = set()
    current: str | None = group
    while current is not None and current in groups and current not in seen:
        seen.add(current)
        if groups[current].voicemail is not None:
            return groups[current].voicemail
        current = groups[current].fallback
    endpoint = site.endpoints.get(current) if current is not None else None
    if current is not None and endpoint is not None and endpoint.voicemail is not None:
        return current
    return None


def _ring(site: ResolvedSite, target: str, *, voicemail: bool = True) -> list[str]:
    """Applications that ring `target`: a ring group's context or one endpoint, then (with
    `voicemail`) the target's box on no answer or busy."""
    if target in site.dialplan.ring_groups:
        entry = "s" if voicemail or group_box(site, target) is None else NO_VOICEMAIL
        return [f"Goto({ring_group_context(target)},{entry},1)"]
    apps = features.ring_phone(site, target)
    if voicemail and site.endpoints[target].voicemail is not None:
        return apps + _leave_message(site.mailbox_number(target))
    return [*apps, "Hangup()"]


def target_apps(site: ResolvedSite, text: str, *, voicemail: bool = True) -> list[str]:
    """Applications that take a call to a target (see site/flows.py): ring an endpoint or a
    group (then, with `voicemail`, its box), enter a flow's context, leave a message, hang up."""
    ref = parse_target(text)
    if ref.kind == "hangup":
        return [f"Hangup({CAUSE_CODES[ref.name]})"]
    if ref.kind == "voicemail":
        return [*_voicemail(mailbox(site.mailbox_number(ref.name)), "u"), "Hangup()"]
    kind = kind_of(site, ref.name)
    if kind is None:  # the flow checks refuse an unknown target before rendering
        raise KeyError(f"unknown target {text!r}")
    if kind in ("endpoint", "ring group"):
        return _ring(site, ref.name, voicemail=voicemail)
    return [f"Goto({flow_context(kind, ref.name)},s,1)"]


def _context(name: str, lines: list[Line]) -> str:
    return section(name, lines, arrow=True)


def _ring_group(site: ResolvedSite, name: str) -> list[Line]:
    group = site.dialplan.ring_groups[name]
    dial = features.ring_members(site, group.endpoints, group.ring_time)
    if group.fallback:
        apps = [*dial, *_ring(site, group.fallback)]
    elif group.voicemail:
        apps = [*dial, *_leave_message(site.mailbox_number(group.voicemail))]
    else:
        apps = [*dial, "Hangup()"]
    lines = _priorities("s", apps)
    if group_box(site, name) is not None:
        # The same ring, ending without a message (an extension with `voicemail: false`).
        after = _ring(site, group.fallback, voicemail=False) if group.fallback else ["Hangup()"]
        lines += _priorities(NO_VOICEMAIL, [*dial, *after])
    return lines


def _limit(seconds: int, context: str) -> list[Line]:
    """A device's calls with a limit: TIMEOUT(absolute), then the same number in its own
    context. The number goes into Goto only filtered to plain characters (refused otherwise,
    like any route), so it can name nothing but an extension; at the limit Asterisk hangs up
    (no pattern catches `T`: sections.CATCH_ALL)."""
    limit = f"Set(TIMEOUT(absolute)={seconds})"
    lines: list[Line] = []
    for exten in CATCH_ALL:
        if exten.startswith("_"):
            number = callsafe.guarded(DOORBELL_CHARACTERS)
            go = f"Goto({context},${{{callsafe.NUMBER}}},1)"
            lines += _priorities(exten, [*number, limit, go])
        else:
            lines += _priorities(exten, [limit, f"Goto({context},{exten},1)"])
    return lines


def render_extensions(site: ResolvedSite, play: Callable[[str], str] = lambda sound: sound) -> str:
    plan = site.dialplan
    sections = [
        section(
            "general",
            [
                ("static", "yes"),
                ("writeprotect", "yes"),
                ("autofallthrough", "yes"),
                ("clearglobalvars", "yes"),
            ],
        ),
        section("globals", []),
    ]
    lines: list[Line] = []
    for number, extension in plan.extensions.items():
        lines += _priorities(
            number, target_apps(site, extension.ring, voicemail=extension.voicemail)
        )
        if extension.ring in site.endpoints:
            # BLF: a phone subscribing to this number sees the endpoint idle, ringing or busy.
            lines.append(("exten", f"{number},hint,PJSIP/{extension.ring}"))
    lines += flows.night_codes(site, _priorities)
    lines += flows.block_codes(site, _priorities)
    lines += features.feature_codes(site, _priorities)
    if plan.pickup is not None:
        # Pickup() without a target answers a call ringing a phone of the caller's groups.
        lines += _priorities(plan.pickup, ["Pickup()", "Hangup()"])
    if site.mailboxes():
        access = site.voicemail
        # VOICEMAIL_BOX is set on each phone's channels by its endpoint (pjsip set_var): its own
        # box, PIN asked. Empty (a phone without a box): VoiceMailMain asks for the box number.
        own = f"VoiceMailMain(${{{BOX_VARIABLE}}}@{CONTEXT})"
        lines += _priorities(access.access, [own, "Hangup()"])
        lines += _priorities(access.access_any, [f"VoiceMailMain(@{CONTEXT})", "Hangup()"])
    sections.append(_context("extensions", lines))
    lines = []
    for route in plan.outbound:
        trunk = site.trunks[route.trunk]
        # The pattern's `.` matches any character, and Asterisk skips `-` when matching: only
        # the filtered number reaches Dial, and a number with anything else is refused.
        apps = callsafe.guarded(callsafe.route_characters(route.pattern))
        number = f"{route.prepend}{callsafe.safe(skip=route.strip)}"
        if trunk.caller_id is not None:
            apps.append(f"Set(CALLERID(num)={trunk.caller_id.number})")
            if trunk.caller_id.name is not None:
                apps.append(f"Set(CALLERID(name)={trunk.caller_id.name})")
        apps += [f"Dial(PJSIP/{number}@{route.trunk})", "Hangup()"]
        lines += _priorities(route.pattern, apps)
    sections.append(_context("outbound", lines))
    sections.append(_context("internal", [("include", "extensions"), ("include", "outbound")]))
    sections.append(_context("local", [("include", "extensions")]))
    lines = []
    if plan.doorbell is not None:
        for exten in DOORBELL_EXTENSIONS:
            # A doorbell nobody answers leaves no message.
            check = callsafe.guarded(DOORBELL_CHARACTERS, into=None) if exten[0] == "_" else []
            lines += _priorities(exten, check + _ring(site, plan.doorbell.ring, voicemail=False))
    sections.append(_context("doorbell", lines))
    for name, endpoint in site.endpoints.items():
        if endpoint.call_limit is not None:
            sections.append(
                _context(limit_context(name), _limit(endpoint.call_limit, endpoint.context))
            )
    anything = plan.inbound.get(ANY_NUMBER)
    for trunk_name, trunk in site.trunks.items():
        lines = []
        first = flows.screened(trunk_name) if flows.screens(site, trunk_name) else []
        for did in trunk.dids:
            routed = plan.inbound.get(did, anything)
            lines += _priorities(
                did, first + (target_apps(site, routed) if routed else ["Hangup(1)"])
            )
        if anything is not None:
            # The route is an extension of its own, each pattern a single Goto, and h,1 is
            # explicit: should a pattern ever match `h` again, Asterisk runs an explicit h,1 and
            # then the pattern's priorities 2, 3, ... (measured in the lab): there are none.
            lines += _priorities(ANY_NUMBER, first + target_apps(site, anything))
            for exten in ANY_EXTENSIONS:
                lines += _priorities(exten, [f"Goto({ANY_NUMBER},1)"])
            lines += _priorities("h", ["NoOp()"])
        sections.append(_context(trunk_context(trunk_name), lines))
    for name in plan.ring_groups:
        sections.append(_context(ring_group_context(name), _ring_group(site, name)))
    if site.featured_phones():
        sections.append(_context(PHONE_RING, features.phone_ring_lines(site, _priorities)))
    for name, lines in flows.flow_contexts(site, lambda t: target_apps(site, t), _priorities, play):
        sections.append(_context(name, lines))
    for trunk_name in site.trunks:
        if flows.screens(site, trunk_name):
            lines = flows.screening_context(
                site, trunk_name, lambda t: target_apps(site, t), _priorities
            )
            sections.append(_context(flows.screen_context(trunk_name), lines))
    if any(endpoint.voicemail is not None for endpoint in site.endpoints.values()):
        sections.append(_context(VOICEMAIL_RESULT, VOICEMAIL_RESULT_LINES))
    return document(GENERATED, sections)
