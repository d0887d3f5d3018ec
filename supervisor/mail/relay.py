"""One e-mail through the site's SMTP relay, with the standard library's smtplib (run in a
worker thread by `delivery.py`): STARTTLS or implicit TLS, the relay's certificate always
verified (system CAs, or the Secret's CA bundle), AUTH with the Secret's credentials, every
socket operation bounded by `timeout`.

smtplib rather than an async client: one message at a time needs no concurrency, it is in the
image already (no new runtime dependency), and a thread with per-operation timeouts is as
bounded as an event-loop client."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import Literal

from supervisor.render.voicemail import box_addresses
from supervisor.site.resolve import ResolvedSite

#: Seconds for each connect, read or write with the relay.
TIMEOUT_S = 30.0


@dataclass(frozen=True, kw_only=True)
class Relay:
    """Where and how to send, from the live site and its Secret values."""

    host: str
    port: int
    security: Literal["starttls", "tls"]
    sender: str
    #: The only addresses a message may go to: the boxes' own (voicemail.conf).
    recipients: frozenset[str]
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca: str | None = field(default=None, repr=False)
    timeout: float = TIMEOUT_S

    @classmethod
    def from_site(cls, site: ResolvedSite, secrets: Mapping[str, str]) -> Relay | None:
        spec = site.voicemail.email
        if spec is None:
            return None
        login = spec.username_secret, spec.password_secret
        return cls(
            host=spec.host,
            port=spec.relay_port,
            security=spec.security,
            sender=spec.sender,
            recipients=box_addresses(site),
            username=None if login[0] is None else secrets[login[0]],
            password=None if login[1] is None else secrets[login[1]],
            ca=None if spec.ca_secret is None else secrets[spec.ca_secret],
        )

    @property
    def where(self) -> str:
        """host:port and mode, for logs and /status (never a credential)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port} ({self.security})"

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca) if self.ca else None
        if context is None:
            context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


class Rejected(Exception):
    """The relay refused this message for good (a 5xx to its sender, recipients or content):
    sending it again cannot help."""


class Unaddressed(Exception):
    """The message names no recipient the site allows (nothing to send it to)."""


def recipients(message: bytes, allowed: frozenset[str]) -> list[str]:
    """The message's To/Cc addresses that the site allows, in order, each once. The headers are
    app_voicemail's; whatever they say, mail only goes to addresses of the site's boxes."""
    headers = BytesHeaderParser().parsebytes(message)
    found: list[str] = []
    for _, address in getaddresses([*headers.get_all("to", []), *headers.get_all("cc", [])]):
        address = address.strip().lower()
        if address in allowed and address not in found:
            found.append(address)
    if not found:
        raise Unaddressed("the message is addressed to no box of the site")
    return found


#: A line break in any of the forms a file may hold (CRLF, LF, a lone CR).
_EOL = re.compile(rb"\r\n|\r|\n")
#: The line app_voicemail ends its e-mail with for sendmail (a lone dot: end of input).
_SENDMAIL_END = b"\r\n.\r\n"


def wire_form(message: bytes) -> bytes:
    """The message as SMTP carries it: app_voicemail writes it for a sendmail pipe, with bare LF
    line ends (smtplib sends bytes unchanged, and relays refuse bare LF since SMTP smuggling:
    RFC 5321 2.3.8) and a last line "." that only ends sendmail's input."""
    lines = _EOL.sub(b"\r\n", message)
    if lines.endswith(_SENDMAIL_END):
        lines = lines[: -len(_SENDMAIL_END) + 2]
    return lines


def send(relay: Relay, message: bytes, to: Sequence[str]) -> None:
    """Deliver `message` to `to` (blocking). Raises Rejected for a permanent refusal, OSError
    or smtplib.SMTPException for anything worth retrying (relay down, timeout, TLS, AUTH)."""
    context = relay.tls_context()
    smtp: smtplib.SMTP
    if relay.security == "tls":
        smtp = smtplib.SMTP_SSL(relay.host, relay.port, timeout=relay.timeout, context=context)
    else:
        smtp = smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout)
    with smtp:
        if relay.security == "starttls":
            smtp.starttls(context=context)  # raises SMTPNotSupportedError without it: never plain
        if relay.username is not None and relay.password is not None:
            smtp.login(relay.username, relay.password)
        wire = wire_form(message)
        smtp.ehlo_or_helo_if_needed()
        # app_voicemail's text part is 8bit (a caller's name in UTF-8): SMTP carries bytes over
        # 127 only when declared, to a relay that offers it (RFC 6152).
        options = ["BODY=8BITMIME"] if not wire.isascii() and smtp.has_extn("8bitmime") else []
        try:
            refused = smtp.sendmail(relay.sender, list(to), wire, options)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            if exc.smtp_code >= 500:
                raise Rejected(f"{exc.smtp_code} {_text(exc.smtp_error)}") from None
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise Rejected(f"every recipient refused ({', '.join(map(str, codes))})") from None
            raise
        if refused:
            # Some recipients took it: sending again would duplicate it for them.
            raise Rejected(f"refused for {len(refused)} of {len(to)} recipients") from None


def _text(error: bytes | str) -> str:
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else error
    return " ".join(text.split())[:200]
