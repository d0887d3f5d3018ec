"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1 (port 0), with STARTTLS or
implicit TLS under a test CA's certificate for `localhost`, and AUTH against one user."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "voicemail-login", "relay-pass-7f3a"


@dataclass(frozen=True)
class Authority:
    ca_pem: str
    cert_pem: bytes
    key_pem: bytes

    def server_context(self, directory: Path) -> ssl.SSLContext:
        (directory / "cert.pem").write_bytes(self.cert_pem)
        (directory / "key.pem").write_bytes(self.key_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
        return context


def authority(name: str = "localhost") -> Authority:
    """A CA and a server certificate it signs for `name` (DNS, or an IP address)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test mail CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        import ipaddress

        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        alt = x509.DNSName(name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Authority(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM).decode(),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message


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
