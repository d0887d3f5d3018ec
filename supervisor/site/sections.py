"""The names of the config sections the renderer generates from a site: one owner.

The renderer writes them, the checks keep raw snippets from reusing them, and the AMI side reads
calls by them (a trunk's PJSIP endpoint): each rule lives here once.
"""

from __future__ import annotations

import re
from typing import Final

#: pjsip.conf: the security guard's deny ACL (only while something is blocked).
BLOCKED_ACL: Final = "supervisor-blocked"
#: pjsip.conf sections named by type, whatever the site.
PJSIP_FIXED: Final = ("global", "system", BLOCKED_ACL)
#: extensions.conf: the hangup handler that puts VoiceMail()'s result on the call record.
VOICEMAIL_RESULT: Final = "supervisor-voicemail"
#: extensions.conf: the subroutine every phone with feature codes is rung through (its
#: do-not-disturb, then its forwards: render/features.py).
PHONE_RING: Final = "supervisor-phone"
#: extensions.conf contexts generated whatever the site (besides model.BUILTIN_CONTEXTS).
EXTENSIONS_FIXED: Final = (
    "general",
    "globals",
    "extensions",
    "outbound",
    VOICEMAIL_RESULT,
    PHONE_RING,
)

#: A flow's kind -> its context prefix, and the key of its kind under `dialplan`.
FLOWS: Final[dict[str, tuple[str, str]]] = {
    "menu": ("menu", "menus"),
    "time condition": ("time", "time_conditions"),
    "announcement": ("announce", "announcements"),
}

#: The catch-all of the doorbell's context and of a trunk's `any` route: digits, letters, * # +,
#: but never a single letter. Asterisk runs the special extensions h (after a hang-up), T (an
#: absolute timeout), e, i, t, a, o in the channel's context, and a pattern matching their name
#: runs instead: measured on Asterisk 22, a doorbell ringing a phone directly dialled that phone
#: again as `h` after every call. `s` (no number) is an extension of its own.
CATCH_ALL: Final = ("_[0-9*#+]!", "_[a-zA-Z][0-9a-zA-Z*#+]!", "s")
_CAUGHT: Final = re.compile(r"s|[0-9*#+].*|[a-zA-Z][0-9a-zA-Z*#+].*", re.DOTALL)


def caught(number: str) -> bool:
    """Whether Asterisk matches `number` to one of CATCH_ALL (`!`: any characters after)."""
    return _CAUGHT.fullmatch(number) is not None


def trunk_endpoint(trunk: str) -> str:
    """A trunk's PJSIP endpoint (and its aor, auth, registration, identify): the trunk's name."""
    return trunk


def trunk_context(trunk: str) -> str:
    """The extensions.conf context a trunk's inbound calls enter."""
    return f"from-{trunk}"


def limit_context(endpoint: str) -> str:
    """The context a device with a call_limit enters: it sets the limit, then goes on to the
    device's own context."""
    return f"limit-{endpoint}"


def ring_group_context(group: str) -> str:
    return f"ring-{group}"


def flow_context(kind: str, name: str) -> str:
    """The extensions.conf context of a call flow (a menu, a time condition, an announcement)."""
    return f"{FLOWS[kind][0]}-{name}"
