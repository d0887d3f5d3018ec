"""voicemail.conf: one box per endpoint that has `voicemail`, in the `default` context, and the
limits every box shares. The dialplan side (leaving a message on no answer or busy, the access
extensions) is in extensions.py; MWI (`mailboxes`) in pjsip.py.

Every value comes from a grammar without `,|;` or spaces (box numbers and PINs are digits, the
full name is the endpoint's name), so a mailbox line `number => pin,name` has exactly the fields
it means. The e-mail address is deliberately not written: the pod has no mail relay.
"""

from __future__ import annotations

from collections.abc import Mapping

from supervisor.render.conf import GENERATED, Option, document, section
from supervisor.site.resolve import ResolvedSite

#: The voicemail context of every box (`VoiceMail(11@default)`, `mailboxes = 11@default`).
CONTEXT = "default"
#: The channel variable each phone's endpoint sets to its own box number (pjsip `set_var`).
BOX_VARIABLE = "VOICEMAIL_BOX"
#: Messages as 8 kHz 16-bit PCM WAV: every phone codec transcodes to it without loss, and its
#: length is the file size over 16,000 bytes per second.
FORMAT = "wav"


def mailbox(number: str) -> str:
    """A box as app_voicemail and res_pjsip_mwi name it."""
    return f"{number}@{CONTEXT}"


def general(site: ResolvedSite) -> list[Option]:
    limits = site.voicemail
    return [
        ("format", FORMAT),
        ("maxmsg", limits.max_messages),
        ("maxsecs", limits.max_message_s),
        ("minsecs", limits.min_message_s),
        ("maxgreet", limits.max_greeting_s),
        ("maxlogins", limits.max_logins),
        ("minpassword", 4),
        # No silence detection: app_voicemail wants maxsilence below minsecs, which would cut
        # a caller who pauses; a silent message ends at maxsecs or when the caller hangs up.
        # No mail relay in the pod: never try to e-mail or page (docs/voicemail.md).
        ("attach", "no"),
        ("sendvoicemail", "no"),
        ("usedirectory", "no"),
        ("review", "no"),
        ("operator", "no"),
        ("envelope", "no"),
        ("saycid", "no"),
        ("nextaftercmd", "yes"),
        ("moveheard", "yes"),
        ("pollmailboxes", "no"),
    ]


def render_voicemail(site: ResolvedSite, secrets: Mapping[str, str]) -> str:
    boxes: list[Option] = []
    for name, number in site.mailboxes().items():
        box = site.endpoints[name].voicemail
        assert box is not None
        boxes.append((number, f"{secrets[box.pin_secret]},{name}"))
    return document(
        GENERATED,
        [section("general", general(site)), section(CONTEXT, boxes, arrow=True)],
    )
