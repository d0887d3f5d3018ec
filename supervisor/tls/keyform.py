"""What a PEM private key is, read from its own bytes before OpenSSL sees it.

OpenSSL does arithmetic while it decodes some kinds of key: for a DSA or DH key in PKCS#8 it
computes the public value (g^x mod p) and checks the parameters (a primality test of p), whatever
their size. Measured with random crafted keys under the 16 KiB limit: up to 0.18 s for a
4096-bit DSA key and 7.7 s for a 10,000-bit DH key (the cost depends on the values). So the
algorithm and, for EC, the curve form are read here from the DER header (a few bytes), and only
the kinds the supervisor serves reach OpenSSL's decoder.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_BLOCK_RE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]{1,40})-----[ \t]*\r?\n(.*?)-----END \1-----", re.DOTALL
)

#: PKCS#8 algorithm identifiers (OID in dotted form) of the kinds the supervisor serves.
RSA = "1.2.840.113549.1.1.1"
EC = "1.2.840.10045.2.1"
ED25519 = "1.3.101.112"
ED448 = "1.3.101.113"
DSA = "1.2.840.10040.4.1"
SERVED = {RSA: "RSA", EC: "EC", ED25519: "Ed25519", ED448: "Ed448"}


class KeyFormProblem(ValueError):
    """Why the text is not a key the decoder may be given (the message names no key material)."""


@dataclass(frozen=True)
class KeyForm:
    """A private key's DER bytes (the first private key block of the text) and its kind."""

    der: bytes
    kind: str


def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at `at`."""
    tag = data[at]
    size = data[at + 1]
    start = at + 2
    if size & 0x80:
        count = size & 0x7F
        if not 0 < count <= 4:
            raise ValueError("length")
        size = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + size
    if end > len(data):
        raise ValueError("truncated")
    return tag, start, end


def _oid(data: bytes) -> str:
    first = data[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in data[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _pkcs8_kind(der: bytes) -> str:
    """The algorithm of a PKCS#8 PrivateKeyInfo; KeyFormProblem for what is not served."""
    tag, start, _ = _tlv(der, 0)  # PrivateKeyInfo
    if tag != 0x30:
        raise ValueError("not a sequence")
    tag, _, after = _tlv(der, start)  # version
    tag, start, end = _tlv(der, after)  # AlgorithmIdentifier
    if tag != 0x30:
        raise ValueError("no algorithm")
    tag, oid_start, oid_end = _tlv(der, start)
    if tag != 0x06:
        raise ValueError("no algorithm")
    algorithm = _oid(der[oid_start:oid_end])
    if algorithm == DSA:
        raise KeyFormProblem(
            "is a DSA key: TLS 1.3 has no DSA and our TLS 1.2 suites are ECDHE-ECDSA and "
            "ECDHE-RSA (no shared cipher); use an RSA, EC or Ed25519 key"
        )
    if algorithm not in SERVED:
        raise KeyFormProblem(
            f"is not a key a TLS server can use here (algorithm {algorithm}); use an RSA, EC "
            "(P-256, P-384, P-521), Ed25519 or Ed448 key"
        )
    if algorithm == EC and oid_end < end and der[oid_end] != 0x06:
        raise KeyFormProblem("is an EC key with explicit curve parameters: name the curve (P-256)")
    return SERVED[algorithm]


def key_form(text: str) -> KeyForm:
    """The first private key block of a PEM text, checked to be of a kind that is served;
    KeyFormProblem (or ValueError: not a PEM private key) otherwise."""
    for match in _BLOCK_RE.finditer(text):
        label, body = match.group(1), match.group(2)
        if not label.endswith("PRIVATE KEY"):
            continue
        if label == "ENCRYPTED PRIVATE KEY" or "Proc-Type:" in body:
            raise KeyFormProblem("is encrypted: Asterisk needs an unencrypted key")
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64") from None
        if label == "PRIVATE KEY":
            try:
                return KeyForm(der, _pkcs8_kind(der))
            except (IndexError, ValueError) as exc:
                if isinstance(exc, KeyFormProblem):
                    raise
                raise ValueError("not PKCS#8") from None
        if label == "RSA PRIVATE KEY":
            return KeyForm(der, "RSA")
        if label == "EC PRIVATE KEY":
            return KeyForm(der, "EC")
        if label == "DSA PRIVATE KEY":
            raise KeyFormProblem(
                "is a DSA key: TLS 1.3 has no DSA and our TLS 1.2 suites are ECDHE-ECDSA and "
                "ECDHE-RSA (no shared cipher); use an RSA, EC or Ed25519 key"
            )
        raise ValueError(f"unknown label {label}")
    raise ValueError("no private key block")
