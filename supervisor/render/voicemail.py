"""voicemail.conf: one box per endpoint that has `voicemail`, in the `default` context, and the
limits every box shares. The dialplan side (leaving a message on no answer or busy, the access
extensions) is in extensions.py; MWI (`mailboxes`) in pjsip.py.

Every value comes from a grammar without `,|;` or spaces (box numbers and PINs are digits, the
full name is the endpoint's name, the e-mail address has no `,`, space, quote or line break), so
a mailbox line `number => pin,name[,email]` has exactly the fields it means and the address
cannot add a header to the e-mail. A box's address is written only when the site names a relay
(`voicemail.email`): app_voicemail then pipes each message, WAV attached, to `mailcmd`, the
supervisor's enqueue script, and the supervisor delivers the queue (docs/mail.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from supervisor.render.conf import GENERATED, Option, document, section
from supervisor.render.context import RenderContext
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


def mail_command(site: ResolvedSite, context: RenderContext) -> str | None:
    """app_voicemail's `mailcmd`: the enqueue script with the queue and its bounds (a shell
    command line of plain paths and numbers), or None without a relay."""
    relay = site.voicemail.email
    if relay is None:
        return None
    return (
        f"/bin/sh {context.mail_enqueue} {context.mail_queue} "
        f"{relay.max_queued} {relay.max_message_bytes}"
    )


def general(site: ResolvedSite, context: RenderContext) -> list[Option]:
    limits = site.voicemail
    command = mail_command(site, context)
    mail: list[Option] = [("attach", "no")]
    if command is not None and limits.email is not None:
        # The message's From (app_voicemail's serveremail); the WAV goes in the e-mail.
        mail = [("attach", "yes"), ("serveremail", limits.email.sender), ("mailcmd", command)]
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
        # E-mail only through the site's relay (docs/mail.md); never pages.
        *mail,
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


def render_voicemail(site: ResolvedSite, secrets: Mapping[str, str], context: RenderContext) -> str:
    boxes: list[Option] = []
    mailing = site.voicemail.email is not None
    for name, number in site.mailboxes().items():
        box = site.endpoints[name].voicemail
        assert box is not None
        email = f",{box.email}" if mailing and box.email is not None else ""
        boxes.append((number, f"{secrets[box.pin_secret]},{name}{email}"))
    return document(
        GENERATED,
        [section("general", general(site, context)), section(CONTEXT, boxes, arrow=True)],
    )


def box_addresses(site: ResolvedSite) -> frozenset[str]:
    """The addresses voicemail.conf gives app_voicemail: the only recipients mail may have."""
    if site.voicemail.email is None:
        return frozenset()
    return frozenset(
        e.voicemail.email.lower()
        for e in site.endpoints.values()
        if e.voicemail is not None and e.voicemail.email is not None
    )
