"""Sending one e-mail to a real SMTP server (aiosmtpd): STARTTLS or implicit TLS with the relay's
certificate verified, AUTH from the Secret, and which failures are retried or given up."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from pathlib import Path

import pytest

from lab.smtp import PASSWORD, USER, Handler, authority, port_of, serve
from supervisor.mail.relay import Rejected, Relay, Unaddressed, recipients, send, wire_form

MESSAGE = (
    b'From: Voicemail <pbx@example.org>\r\nTo: "desk" <desk@example.org>\r\n'
    b"Subject: New message 1 in mailbox 11\r\n\r\nHello\r\n"
)
ALLOWED = frozenset({"desk@example.org"})


def relay(port: int, ca: str | None, **overrides: object) -> Relay:
    values: dict[str, object] = {
        "host": "localhost",
        "port": port,
        "security": "starttls",
        "sender": "pbx@example.org",
        "recipients": ALLOWED,
        "username": USER,
        "password": PASSWORD,
        "ca": ca,
        "timeout": 10.0,
    }
    values.update(overrides)
    return Relay(**values)  # type: ignore[arg-type]


async def test_starttls_and_auth_deliver_the_message(tmp_path: Path) -> None:
    """STARTTLS against the Secret's CA, then AUTH: the server receives the bytes as sent."""
    ca = authority()
    handler = Handler()
    server = await serve(handler, ca.server_context(tmp_path))
    async with server:
        await asyncio.to_thread(
            send, relay(port_of(server), ca.ca_pem), MESSAGE, ["desk@example.org"]
        )
    (got,) = handler.received
    assert (got.sender, got.recipients) == ("pbx@example.org", ["desk@example.org"])
    assert got.message["Subject"] == "New message 1 in mailbox 11"


# The listener itself is TLS; aiosmtpd only knows STARTTLS sessions as encrypted.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_delivers_the_message(tmp_path: Path) -> None:
    """security: tls speaks TLS from the first byte (port 465 style)."""
    ca = authority()
    handler = Handler()
    server = await serve(handler, ca.server_context(tmp_path), implicit=True)
    async with server:
        target = relay(port_of(server), ca.ca_pem, security="tls")
        await asyncio.to_thread(send, target, MESSAGE, ["desk@example.org"])
    assert len(handler.received) == 1


async def test_an_untrusted_certificate_is_refused_before_any_credential(tmp_path: Path) -> None:
    """A relay whose certificate the CA did not sign fails verification; nothing is sent."""
    handler = Handler()
    server = await serve(handler, authority().server_context(tmp_path))
    async with server:
        target = relay(port_of(server), authority().ca_pem)  # another CA
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.to_thread(send, target, MESSAGE, ["desk@example.org"])
    assert handler.received == []


async def test_a_relay_without_starttls_is_never_used_in_plain_text(tmp_path: Path) -> None:
    """No STARTTLS offered: an error to retry, never AUTH or the message over plain text."""
    handler = Handler()
    server = await serve(handler, authority().server_context(tmp_path), starttls=False)
    async with server:
        target = relay(port_of(server), None)
        with pytest.raises(smtplib.SMTPNotSupportedError):
            await asyncio.to_thread(send, target, MESSAGE, ["desk@example.org"])
    assert handler.received == []


async def test_wrong_credentials_are_retried_and_a_5xx_is_given_up(tmp_path: Path) -> None:
    """AUTH refused is a failure to retry (the Secret may be fixed); a 554 to DATA is final."""
    ca = authority()
    handler = Handler()
    server = await serve(handler, ca.server_context(tmp_path))
    async with server:
        target = relay(port_of(server), ca.ca_pem, password="wrong-password")
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            await asyncio.to_thread(send, target, MESSAGE, ["desk@example.org"])
        assert "wrong-password" not in str(failed.value)
        handler.refuse = "554 5.7.1 message refused"
        with pytest.raises(Rejected, match="554"):
            await asyncio.to_thread(
                send, relay(port_of(server), ca.ca_pem), MESSAGE, ["desk@example.org"]
            )
        handler.refuse = "451 4.3.0 try later"
        with pytest.raises(smtplib.SMTPDataError):
            await asyncio.to_thread(
                send, relay(port_of(server), ca.ca_pem), MESSAGE, ["desk@example.org"]
            )
    assert handler.received == []


async def test_app_voicemails_sendmail_form_is_sent_with_crlf_and_no_end_dot(
    tmp_path: Path,
) -> None:
    """app_voicemail's e-mail (bare LF line ends, a last "." line for sendmail) reaches a relay
    that refuses bare LF (aiosmtpd: "500 Line too long") in SMTP's form, the dot gone."""
    sendmail_form = MESSAGE.replace(b"\r\n", b"\n") + b"second line\n.\n"
    assert wire_form(sendmail_form) == MESSAGE + b"second line\r\n"
    ca = authority()
    handler = Handler()
    server = await serve(handler, ca.server_context(tmp_path))
    async with server:
        target = relay(port_of(server), ca.ca_pem)
        await asyncio.to_thread(send, target, sendmail_form, ["desk@example.org"])
    (got,) = handler.received
    assert got.message["Subject"] == "New message 1 in mailbox 11"
    assert got.message.get_payload() == "Hello\r\nsecond line\r\n"
    assert "BODY=8BITMIME" not in got.mail_options  # 7-bit: nothing to declare


async def test_eight_bit_text_is_declared_8bitmime(tmp_path: Path) -> None:
    """A caller's name in UTF-8 in app_voicemail's 8bit text part goes with BODY=8BITMIME, the
    bytes unchanged."""
    ca = authority()
    handler = Handler()
    server = await serve(handler, ca.server_context(tmp_path))
    name = "Jürgen Müller".encode()
    async with server:
        target = relay(port_of(server), ca.ca_pem)
        await asyncio.to_thread(
            send, target, MESSAGE.replace(b"Hello", b"from " + name), ["desk@example.org"]
        )
    (got,) = handler.received
    assert "BODY=8BITMIME" in got.mail_options
    assert got.message.get_payload(decode=True) == b"from " + name + b"\r\n"


def test_recipients_are_only_the_sites_box_addresses() -> None:
    """Whatever the headers say (an added To or Cc), mail goes only to the boxes' addresses."""
    forged = MESSAGE.replace(
        b'To: "desk" <desk@example.org>',
        b'To: "desk" <DESK@example.org>, evil@example.net\r\nCc: other@example.net',
    )
    assert recipients(forged, ALLOWED) == ["desk@example.org"]
    with pytest.raises(Unaddressed):
        recipients(MESSAGE.replace(b"desk@example.org", b"evil@example.net"), ALLOWED)


def test_relay_repr_shows_no_credential() -> None:
    """The relay's repr and its `where` (logs, /status) never hold the user or password."""
    target = relay(587, None)
    assert PASSWORD not in repr(target)
    assert USER not in repr(target)
    assert target.where == "localhost:587 (starttls)"
