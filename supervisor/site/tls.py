"""TLS material from the Secret: PEM certificates and keys, checked before Asterisk sees them.

A certificate Asterisk cannot use is worse than an old one: measured on Asterisk 22.10, a TLS
transport restarted with a key that does not match its certificate stops accepting connections
(handshakes are reset) until a good pair arrives. So every pair is parsed and matched here, and
a bad one is refused like any bad input (the last good files stay live):

- the certificate (chain) must be PEM X.509, the first one the server's own;
- the key must be an unencrypted PEM private key whose public key is the certificate's;
- the certificate must be valid now (not expired, not yet valid, 5 minutes of clock skew
  allowed);
- a CA bundle must hold at least one PEM certificate.

Parsing uses the `cryptography` package (X.509 and key parsing, public key comparison): the
standard library's `ssl` can only load a pair from files into a context, and cannot say which of
the checks failed or when a certificate expires.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

PEM_CERT = "-----BEGIN CERTIFICATE-----"
MAX_CHAIN = 10
# A certificate issued a moment ago on a node whose clock is a little ahead is not refused (the
# pod's clock may be behind the issuer's).
CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertInfo:
    """What the supervisor needs to know about a transport's certificate (no key material):
    `fingerprint` is the sha256 of the server certificate's DER form (hex, lower case)."""

    fingerprint: str
    not_after: float
    subject: str


class TlsProblem(ValueError):
    """Why a certificate, key or CA bundle cannot be used (never contains key material)."""


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def load_chain(text: str, what: str) -> list[x509.Certificate]:
    """The PEM certificates in `text`, in order; TlsProblem if there is none or one is broken."""
    if PEM_CERT not in text:
        raise TlsProblem(f"{what} is not a PEM certificate (no '{PEM_CERT}' line)")
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise TlsProblem(f"{what} holds a PEM certificate that cannot be parsed") from None
    if len(certs) > MAX_CHAIN:
        raise TlsProblem(f"{what} holds {len(certs)} certificates (at most {MAX_CHAIN})")
    return certs


def _load_key(text: str, what: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError:
        raise TlsProblem(f"{what} is encrypted: Asterisk needs an unencrypted key") from None
    except (ValueError, Exception):
        # cryptography raises ValueError (or UnsupportedAlgorithm) without echoing the input.
        raise TlsProblem(f"{what} is not a PEM private key") from None


def _spki(public: PublicKeyTypes) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_pair(
    cert_text: str, key_text: str, *, cert_what: str, key_what: str, now: float
) -> CertInfo:
    """Check a certificate (chain) and its key; the CertInfo of the server certificate."""
    chain = load_chain(cert_text, cert_what)
    leaf = chain[0]
    key = _load_key(key_text, key_what)
    own = _spki(key.public_key())
    if _spki(leaf.public_key()) != own:
        # OpenSSL serves the first certificate as the server's: a chain in the wrong order is
        # a different mistake from a wrong key, and deserves its own message.
        for index, cert in enumerate(chain[1:], start=2):
            if _spki(cert.public_key()) == own:
                raise TlsProblem(
                    f"the server's certificate must come first in {cert_what}: {key_what} is "
                    f"the key of certificate {index} of {len(chain)}"
                )
        raise TlsProblem(f"{key_what} is not the key of the certificate in {cert_what}")
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    if leaf.not_valid_after_utc <= moment:
        raise TlsProblem(
            f"the certificate in {cert_what} expired {_when(leaf.not_valid_after_utc)}"
        )
    if leaf.not_valid_before_utc > moment + CLOCK_SKEW:
        raise TlsProblem(
            f"the certificate in {cert_what} is not valid before {_when(leaf.not_valid_before_utc)}"
        )
    return CertInfo(
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        not_after=leaf.not_valid_after_utc.timestamp(),
        subject=leaf.subject.rfc4514_string()[:200],
    )


def check_ca(text: str, what: str) -> None:
    """A CA bundle: at least one parseable PEM certificate."""
    load_chain(text, what)
