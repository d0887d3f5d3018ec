"""TLS material from the Secret: PEM certificates and keys, checked before Asterisk sees them.

A certificate Asterisk cannot use is worse than an old one: measured on Asterisk 22.10, a TLS
transport restarted with a key that does not match its certificate stops accepting connections
(handshakes are reset) until a good pair arrives. So every pair is parsed and matched here, and
a bad one is refused like any bad input (the last good files stay live):

- the certificate (chain) must be PEM X.509, the first one the server's own;
- the key must be an unencrypted PEM private key whose public key is the certificate's;
- the certificate must be valid now (not expired, not yet valid, 5 minutes of clock skew
  allowed);
- a CA bundle must hold at least one PEM certificate;
- the key must be one OpenSSL serves with our cipher list to TLS 1.2 and 1.3 clients (measured
  with the rootfs's OpenSSL 3: docs/tls.md): RSA of 2048 to 8192 bits, EC on P-256, P-384 or
  P-521, Ed25519 or Ed448. Refused: smaller RSA ("ee key too small"), DSA, other curves
  (secp256k1, P-224: no shared cipher; brainpool: TLS 1.3 only).

Every check is bounded whatever the input (bench/bench_tls_check.py): the bytes are counted
before parsing, the key's kind is read from its DER header before OpenSSL decodes it (keyform.py:
OpenSSL computes on DSA and DH keys while decoding them), it is parsed without OpenSSL's RSA
key check (it tests p and q for
primality: 0.1 s for 2048 bits, 7 s for 8192, minutes for crafted larger keys), its size is
judged before any arithmetic, and an RSA key's consistency is then checked with the congruences
OpenSSL's check uses (n = pq, ed = 1 mod lcm(p-1, q-1), the CRT values): microseconds. Only the
primality of p and q is left untested; no mistake of an operator or issuer produces a key that
passes everything else.

Parsing uses the `cryptography` package (X.509 and key parsing, public key comparison): the
standard library's `ssl` can only load a pair from files into a context, and cannot say which of
the checks failed or when a certificate expires.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from supervisor.printable import escape
from supervisor.tls import keyform
from supervisor.tls.limits import MAX_CERT_PEM_BYTES, MAX_CHAIN, MAX_KEY_PEM_BYTES, RSA_BITS

#: Where Debian's ca-certificates puts the system's trusted CAs (hashed names, OpenSSL's -CApath).
SYSTEM_CA_PATH: Final = "/etc/ssl/certs"

PEM_CERT = "-----BEGIN CERTIFICATE-----"
#: Curves OpenSSL serves with our ECDHE-ECDSA suites to TLS 1.2 and 1.3 clients (docs/tls.md).
CURVES = ("secp256r1", "secp384r1", "secp521r1")
#: OpenSSL refuses larger public exponents for keys over 3072 bits (OPENSSL_RSA_MAX_PUBEXP_BITS).
MAX_PUBLIC_EXPONENT_BITS = 64
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


class KeyProblem(TlsProblem):
    """A problem of the private key alone (located at the key's Secret key, not the pair's)."""


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def load_chain(text: str, what: str) -> list[x509.Certificate]:
    """The PEM certificates in `text`, in order; TlsProblem if there is none or one is broken."""
    if len(text.encode()) > MAX_CERT_PEM_BYTES:
        raise TlsProblem(f"{what} is larger than {MAX_CERT_PEM_BYTES // 1024} KiB")
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
    if len(text.encode()) > MAX_KEY_PEM_BYTES:
        raise KeyProblem(f"{what} is larger than {MAX_KEY_PEM_BYTES // 1024} KiB")
    try:
        form = keyform.key_form(text)
    except keyform.KeyFormProblem as exc:
        raise KeyProblem(f"{what} {exc}") from None
    except ValueError:
        raise KeyProblem(f"{what} is not a PEM private key") from None
    try:
        # Parsing only: the RSA consistency check comes after the size check (_check_rsa).
        return serialization.load_der_private_key(
            form.der, password=None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError:
        raise KeyProblem(f"{what} is encrypted: Asterisk needs an unencrypted key") from None
    except (ValueError, Exception):
        # cryptography raises ValueError (or UnsupportedAlgorithm) without echoing the input.
        raise KeyProblem(f"{what} is not a PEM private key") from None


def _servable(key: PrivateKeyTypes, what: str) -> None:
    """Refuse a key OpenSSL cannot serve with our cipher list, or that is costly to check."""
    if isinstance(key, rsa.RSAPrivateKey):
        low, high = RSA_BITS
        if key.key_size < low:
            raise KeyProblem(
                f"{what} is an RSA key of {key.key_size} bits: OpenSSL refuses RSA keys under "
                f"{low} bits (ee key too small)"
            )
        if key.key_size > high:
            raise KeyProblem(
                f"{what} is an RSA key of {key.key_size} bits: at most {high} (a larger key "
                "makes every handshake slow; cert-manager issues 2048, 4096 or 8192)"
            )
        return
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in CURVES:
            tls13 = key.curve.name.startswith("brainpool")
            why = "TLS 1.2 clients cannot use it" if tls13 else "clients do not offer it"
            raise KeyProblem(
                f"{what} is an EC key on curve {key.curve.name}: {why} (no shared cipher); "
                "use P-256, P-384 or P-521"
            )
        return
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return
    raise KeyProblem(f"{what} is not a signing key (use an RSA, EC or Ed25519 key)")


def _check_rsa(key: rsa.RSAPrivateKey, what: str) -> None:
    """OpenSSL's RSA key check without its primality tests: each value in range and the
    congruences that make signatures verify. A few big-number operations on at most 8192-bit
    values, so microseconds whatever the key."""
    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    if e.bit_length() > MAX_PUBLIC_EXPONENT_BITS or e < 3 or e % 2 == 0:
        raise KeyProblem(f"{what} has a public exponent OpenSSL does not accept")
    lcm = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1) if p > 1 and q > 1 else 0
    consistent = (
        1 < p < n
        and 1 < q < n
        and p * q == n
        and 0 < d < n
        and (e * d) % lcm == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and 0 < numbers.iqmp < p
        and (numbers.iqmp * q) % p == 1
    )
    if not consistent:
        raise KeyProblem(f"{what} is not a consistent RSA key (its values do not fit together)")


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
    _servable(key, key_what)
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
    if isinstance(key, rsa.RSAPrivateKey):
        _check_rsa(key, key_what)
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
        subject=_subject(leaf, cert_what),
    )


def _subject(cert: x509.Certificate, what: str) -> str:
    try:
        # Valid text may still hold a line break or a terminal escape: shown escaped.
        return escape(cert.subject.rfc4514_string())[:200]
    except ValueError:
        # An attribute declared UTF8String that holds other bytes: OpenSSL serves it anyway,
        # but every client shows garbage, and nothing here can print it.
        raise TlsProblem(
            f"the certificate in {what} has a subject that is not valid text"
        ) from None


def check_ca(text: str, what: str) -> None:
    """A CA bundle: at least one parseable PEM certificate."""
    load_chain(text, what)
