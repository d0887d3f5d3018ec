"""A real SMTP server for the mail tests and the lab: aiosmtpd with STARTTLS or implicit TLS under
a certificate of a lab CA (`lab.pki`), and AUTH against one user. `serve()` runs it on the
caller's loop (the unit tests: 127.0.0.1, port 0); `LabRelay` runs it in a lab namespace on an
address of its own, as a cluster's mail relay, and can be stopped and started again."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from lab.ami import NetnsLoop
from lab.netns import Lab
from lab.pki import Ca, Issued

USER, PASSWORD = "voicemail-login", "relay-pass-7f3a"
#: The lab's mail relay: a host of its own on the provider's side of the router.
MAIL_V6 = "2001:db8:25::25"
SUBMISSION_PORT = 587


@dataclass(frozen=True)
class Authority:
    """A CA (its PEM is what the site's `ca_secret` holds) and the relay's certificate."""

    ca_pem: str
    server: Issued

    def server_context(self, directory: Path) -> ssl.SSLContext:
        """The relay's TLS context (the key is written 0600 to `directory` for OpenSSL to load,
        and removed)."""
        cert, key = directory / "relay-cert.pem", directory / "relay-key.pem"
        cert.write_text(self.server.cert_pem)
        key.touch(mode=0o600)
        key.write_text(self.server.key_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(cert, key)
        finally:
            key.unlink()
        return context


def authority(name: str = "localhost") -> Authority:
    """A new CA and a server certificate it signs for `name` (a DNS name or an IP address)."""
    ca = Ca(name="test mail CA", days=30)
    return Authority(ca_pem=ca.cert_pem, server=ca.issue((name,), days=30))


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message
    mail_options: list[str] = field(default_factory=list)  # MAIL FROM's, e.g. BODY=8BITMIME


@dataclass
class Handler:
    """Keeps every accepted e-mail; `refuse` answers DATA with that reply instead."""

    received: list[Received] = field(default_factory=list)
    refuse: str | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse is not None:
            return self.refuse
        content = envelope.original_content or b""
        self.received.append(
            Received(
                sender=str(envelope.mail_from),
                recipients=list(envelope.rcpt_tos),
                message=BytesParser().parsebytes(content),
                mail_options=list(envelope.mail_options),
            )
        )
        return "250 OK"


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


async def serve(
    handler: Handler,
    context: ssl.SSLContext,
    *,
    implicit: bool = False,
    starttls: bool = True,
    host: str = "127.0.0.1",
    port: int = 0,
) -> asyncio.Server:
    """The server on `host:port` (0: any free port): STARTTLS required before AUTH, or TLS from
    the first byte (`implicit`)."""

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="localhost",
            tls_context=None if implicit or not starttls else context,
            require_starttls=starttls and not implicit,
            authenticator=authenticator,
            # aiosmtpd cannot tell a TLS listener's sessions are TLS: only STARTTLS counts.
            auth_require_tls=not implicit,
            auth_required=True,
            # PLAIN only: smtplib falls back to LOGIN after a refused PLAIN, which aiosmtpd
            # 1.4 answers with a challenge smtplib never completes (a 10 s timeout per test).
            auth_exclude_mechanism=["LOGIN"],
        )

    loop = asyncio.get_running_loop()
    return await loop.create_server(factory, host, port, ssl=context if implicit else None)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


class LabRelay:
    """The mail relay of the lab: aiosmtpd on [MAIL_V6]:587 in the provider's namespace (the
    router sends MAIL_V6 there), STARTTLS under a certificate for that address, AUTH required.
    `stop()` closes the listener (the relay is down: connections are refused), `start()` opens
    it again on the same address and port; `received` is every e-mail it accepted."""

    def __init__(self, lab: Lab, *, address: str = MAIL_V6, port: int = SUBMISSION_PORT) -> None:
        self.lab, self.address, self.port = lab, address, port
        self.authority = authority(address)
        self.handler = Handler()
        self._server: asyncio.Server | None = None
        self._loop: NetnsLoop | None = None
        with tempfile.TemporaryDirectory() as directory:
            self._context = self.authority.server_context(Path(directory))

    @property
    def ca_pem(self) -> str:
        return self.authority.ca_pem

    @property
    def received(self) -> list[Received]:
        # A copy: the relay's loop thread appends (one list operation: atomic under the GIL).
        return list(self.handler.received)

    def start(self) -> LabRelay:
        if self._loop is None:
            self.lab.add_address("provider", f"{self.address}/128")
            self.lab.route("provider", self.address)
            self._loop = NetnsLoop(self.lab.provider)
        if self._server is None:
            self._server = self._loop.run(
                serve(self.handler, self._context, host=self.address, port=self.port), 10
            )
        return self

    def stop(self) -> None:
        """Close the listener and every session (the loop stays, for `start()`)."""
        if self._loop is not None and self._server is not None:
            self._loop.run(self._close(self._server), 10)
        self._server = None

    async def _close(self, server: asyncio.Server) -> None:
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await server.wait_closed()

    def close(self) -> None:
        self.stop()
        if self._loop is not None:
            self._loop.close()
            self._loop = None
