"""extensions.conf for the phone feature codes (docs/features.md): do-not-disturb and call
forwarding, set by a phone for itself in astdb, and honoured wherever a phone is rung.

- The codes (in the phones' `extensions` context) key astdb by `PHONE_ENDPOINT`, which only an
  authenticating phone's endpoint sets on its own channels (pjsip set_var): a channel without
  it (a trunk's caller transferred to a code, a device identified by address) is refused.
- A forward target is what the phone dialled after the code (or keyed in at the prompt),
  refused unless it is digits and `*#+` (callsafe) and at most `max_forward_digits` long.
- `supervisor-phone` (a Gosub, after the caller set FLOW_PHONE and FLOW_PHONE_CONTEXT from
  the configuration) rings a phone: do-not-disturb is a no-answer without ringing; a forward is
  a Local channel into the phone's own context (its `limit-NAME` if it has a call_limit), so a
  forward reaches only what the phone could dial itself; a forwarded call (`FLOW_FORWARDED`,
  inherited by the Local channel) is never forwarded again: no loops. One subroutine for all
  phones keeps the dialplan small (5,000 phones: three lines per ring, not a context each).
- A ring group skips members with do-not-disturb and ignores their forwards.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor.render import callsafe
from supervisor.site.features import (
    DND_FAMILY,
    FORWARD_CHARACTERS,
    FORWARD_FAMILIES,
    Forward,
    PhoneFeatures,
)
from supervisor.site.flowchecks import rung_endpoints
from supervisor.site.resolve import ResolvedSite
from supervisor.site.sections import PHONE_RING, limit_context

Line = tuple[str, str]
Priorities = Callable[[str, list[str]], list[Line]]
#: The channel variable an authenticating phone's endpoint sets to its own name (set_var).
PHONE_VARIABLE = "PHONE_ENDPOINT"
#: The forward target, filtered.
TARGET = f"{callsafe.SAFE_PREFIX}FORWARD"
#: The phone `supervisor-phone` rings, and the context its forwards are dialled in: set by
#: the caller from the configuration (our namespace: only a clean value can be written).
PHONE = "FLOW_PHONE"
OWN_CONTEXT = "FLOW_PHONE_CONTEXT"
#: 1 on a call already forwarded once (inherited: `__` on the write).
FORWARDED = "FLOW_FORWARDED"
#: A ring group's members without do-not-disturb, `&`-joined, each with a leading `&`.
MEMBERS = "FLOW_MEMBERS"
#: Read()'s answer at the forward prompt (the caller's: filtered before use).
INPUT = "FORWARD_INPUT"
#: Q.850 21, call rejected: a code dialled from a channel that is no phone.
REJECTED = 21
SOUNDS: dict[Forward, str] = {
    "always": "call-fwd-unconditional",
    "busy": "call-fwd-on-busy",
    "noanswer": "call-fwd-no-ans",
}
#: Seconds the prompt waits for the forward target's digits.
PROMPT_TIMEOUT = 10


def dnd_device(name: str) -> str:
    """The custom device state that shows phone `name`'s do-not-disturb (kept in astdb by
    Asterisk, so it survives restarts like the switch itself)."""
    return f"Custom:dnd-{name}"


def dnd_hint(name: str) -> str:
    """The hint-only extension (in `extensions`) a BLF key subscribes to for `name`'s DND."""
    return f"dnd-{name}"


def _own() -> str:
    """Refuses a channel that is not an authenticated phone's own."""
    return f'ExecIf($["${{{PHONE_VARIABLE}}}"=""]?Hangup({REJECTED}))'


def _key(family: str, name: str = f"${{{PHONE_VARIABLE}}}") -> str:
    return f"{family}/{name}"


def _store(kind: Forward, features: PhoneFeatures) -> list[str]:
    """Refuses an empty or too long target, then writes it as the phone's forward."""
    length = f"${{LEN(${{{TARGET}}})}}"
    return [
        f"ExecIf($[{length} = 0 | {length} > {features.max_forward_digits}]"
        f"?Hangup({callsafe.REFUSED_CAUSE}))",
        f"Set(DB({_key(FORWARD_FAMILIES[kind])})=${{{TARGET}}})",
        f"Playback({SOUNDS[kind]}&activated)",
        "Hangup()",
    ]


def feature_codes(site: ResolvedSite, at: Priorities) -> list[Line]:
    """The codes phones dial (in the `extensions` context)."""
    features = site.dialplan.features
    if not site.featured_phones() or features is None:
        return []
    lines: list[Line] = []
    dnd = _key(DND_FAMILY)
    lamp = dnd_device(f"${{{PHONE_VARIABLE}}}")
    if features.dnd_on is not None:
        for name in rung_phones(site):
            # BLF: a key subscribed to dnd-NAME lights while NAME has do-not-disturb on.
            lines.append(("exten", f"{dnd_hint(name)},hint,{dnd_device(name)}"))
        apps = [
            _own(),
            f"Set(DB({dnd})=1)",
            f"Set(DEVICE_STATE({lamp})=INUSE)",
            "Playback(do-not-disturb&activated)",
            "Hangup()",
        ]
        lines += at(features.dnd_on, apps)
    if features.dnd_off is not None:
        apps = [
            _own(),
            f"Set(DND_OLD=${{DB_DELETE({dnd})}})",
            f"Set(DEVICE_STATE({lamp})=NOT_INUSE)",
            "Playback(do-not-disturb&de-activated)",
            "Hangup()",
        ]
        lines += at(features.dnd_off, apps)
    for kind, code in features.on_codes().items():
        if code is None:
            continue
        # The code alone: the number keyed in after the prompt (one digit more than allowed
        # is read, so a longer number is refused rather than cut).
        prompt = f"{SOUNDS[kind]}&vm-enter-num-to-call"
        read = f"Read({INPUT},{prompt},{features.max_forward_digits + 1},,1,{PROMPT_TIMEOUT})"
        keyed = callsafe.guarded(FORWARD_CHARACTERS, source=INPUT, into=TARGET)
        lines += at(code, [_own(), read, *keyed, *_store(kind, features)])
        # The code followed by the number: the whole dialled string is checked.
        dialled = callsafe.guarded(FORWARD_CHARACTERS)  # a code's own characters among them
        take = f"Set({TARGET}={callsafe.safe(skip=len(code))})"
        lines += at(f"_{code}X.", [_own(), *dialled, take, *_store(kind, features)])
    for kind, code in features.off_codes().items():
        if code is None:
            continue
        delete = f"Set(FORWARD_OLD=${{DB_DELETE({_key(FORWARD_FAMILIES[kind])})}})"
        lines += at(code, [_own(), delete, f"Playback({SOUNDS[kind]}&de-activated)", "Hangup()"])
    return lines


def _forward_target(kind: Forward, name: str) -> str:
    """The phone's forward, re-filtered on the way out of astdb (whoever wrote it)."""
    return callsafe.filtered(
        f"DB({_key(FORWARD_FAMILIES[kind], name)})", FORWARD_CHARACTERS, TARGET
    )


def phone_ring_lines(site: ResolvedSite, at: Priorities) -> list[Line]:
    """`supervisor-phone`: rings the phone named by PHONE as its state says, then returns with
    DIALSTATUS set (the caller then takes the no-answer or busy path: voicemail, a fallback).
    One subroutine for every phone: the caller sets PHONE and OWN_CONTEXT (constants of the
    configuration) first."""
    phone = f"${{{PHONE}}}"
    forwarded = f'"${{{FORWARDED}}}"="1"'
    busy = '"${DIALSTATUS}"="BUSY"'
    unanswered = '("${DIALSTATUS}"="NOANSWER"|"${DIALSTATUS}"="CHANUNAVAIL")'
    found = f'"${{{TARGET}}}"!=""'
    return at(
        "s",
        [
            f'GotoIf($["${{DB({_key(DND_FAMILY, phone)})}}"="1"]?dnd)',
            f"GotoIf($[{forwarded}]?ring)",
            _forward_target("always", phone),
            f"GotoIf($[{found}]?forward)",
            f"(ring)Dial(PJSIP/{phone},{site.dialplan.ring_time})",
            f"GotoIf($[{forwarded}]?done)",
            _forward_target("busy", phone),
            f"GotoIf($[{busy}&{found}]?forward)",
            _forward_target("noanswer", phone),
            f"GotoIf($[{unanswered}&{found}]?forward)",
            "(done)Return()",
            # Do-not-disturb: the no-answer path at once.
            "(dnd)Set(DIALSTATUS=NOANSWER)",
            "Return()",
            f"(forward)Set(__{FORWARDED}=1)",
            f"Dial(Local/${{{TARGET}}}@${{{OWN_CONTEXT}}})",
            "Return()",
        ],
    )


def rung_phones(site: ResolvedSite) -> list[str]:
    """The phones with the features that some call can ring: each gets a DND hint (a phone
    nothing rings changes no dialplan when added)."""
    rung = rung_endpoints(site)
    return [name for name in site.featured_phones() if name in rung]


def ring_phone(site: ResolvedSite, name: str) -> list[str]:
    """Applications that ring endpoint `name` for the ring time, leaving DIALSTATUS set."""
    if site.featured(name):
        endpoint = site.endpoints[name]
        # A forward is dialled in the phone's own context (its limit- one with a call_limit).
        own = limit_context(name) if endpoint.call_limit is not None else endpoint.context
        return [f"Set({PHONE}={name})", f"Set({OWN_CONTEXT}={own})", f"Gosub({PHONE_RING},s,1)"]
    return [f"Dial(PJSIP/{name},{site.dialplan.ring_time})"]


def ring_members(site: ResolvedSite, members: tuple[str, ...], seconds: int) -> list[str]:
    """Applications that ring a group's members together for `seconds`: members with
    do-not-disturb are left out (nobody left: DIALSTATUS NOANSWER at once); forwards are not
    followed (a group call is for whoever is there)."""
    featured = {member for member in members if site.featured(member)}
    if not featured:
        return [f"Dial({'&'.join(f'PJSIP/{m}' for m in members)},{seconds})"]
    parts = []
    for member in members:
        if member in featured:
            dnd = f'"${{DB({_key(DND_FAMILY, member)})}}"="1"'
            parts.append(f"${{IF($[{dnd}]?:&PJSIP/{member})}}")
        else:
            parts.append(f"&PJSIP/{member}")
    return [
        f"Set({MEMBERS}={''.join(parts)})",
        "Set(DIALSTATUS=NOANSWER)",
        f'GotoIf($["${{{MEMBERS}}}"=""]?nobody)',
        f"Dial(${{{MEMBERS}:1}},{seconds})",
        "(nobody)NoOp()",
    ]
