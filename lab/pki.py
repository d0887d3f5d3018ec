"""A throw-away certificate authority for the lab and the demo: a CA and the certificates it
issues, as PEM text (what cert-manager puts in a Secret as `ca.crt`, `tls.crt`, `tls.key`).

EC P-256 keys: generating them takes microseconds, so every test can have its own CA.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass(frozen=True)
class Issued:
    """A certificate and its key as PEM text; `fingerprint` is the sha256 of the DER form."""

    cert_pem: str
    key_pem: str = field(repr=False)
    fingerprint: str

    def secret_files(self, ca: Ca | None = None) -> dict[str, str]:
        """The Secret keys cert-manager writes for this certificate."""
        files = {"tls.crt": self.cert_pem, "tls.key": self.key_pem}
        if ca is not None:
            files["ca.crt"] = ca.cert_pem
        return files


@dataclass
class Ca:
    """A self-signed CA; `issue()` makes a server certificate for names and IP addresses."""

    name: str = "lab CA"
    days: float = 365
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()), repr=False
    )
    cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        now = _now()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=self.days))
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
            # Key identifiers, as every real CA writes them: OpenSSL's strict verification (the
            # default of Python 3.13's ssl) refuses a chain without them.
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(
        self,
        names: tuple[str, ...] = ("pbx.example.org",),
        *,
        days: float = 90,
        not_before: datetime.datetime | None = None,
        client: bool = False,
    ) -> Issued:
        """A certificate for `names` (DNS names or IP literals) valid for `days` from now
        (negative: already expired)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        start = not_before or min(now, now + datetime.timedelta(days=days)) - datetime.timedelta(
            hours=1
        )
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        usage = [ExtendedKeyUsageOID.SERVER_AUTH]
        if client:
            usage.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return Issued(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem=_key_pem(key),
            fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        )


#: Every key type a certificate can be signed with (DSA included, for the refusal tests).
SigningKey = CertificateIssuerPrivateKeyTypes


def self_signed(key: SigningKey, name: str = "pbx.example.org", *, days: float = 90) -> Issued:
    """A server certificate for `name` signed by its own key (any key type the tests need)."""
    now = _now()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    edwards = isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, None if edwards else hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return Issued(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=pem,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_integer(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # a leading 0: never negative
    return b"\x02" + _der_length(len(raw)) + raw


def rsa_key_pem(n: int, e: int, d: int, p: int, q: int, dp: int, dq: int, qinv: int) -> str:
    """A PKCS#1 RSA private key made of exactly these values, consistent or not (crafted keys:
    `cryptography` only builds keys that are)."""
    body = b"".join(_der_integer(v) for v in (0, n, e, d, p, q, dp, dq, qinv))
    der = b"\x30" + _der_length(len(body)) + body
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (
        "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----\n"
    )


def _der_sequence(*parts: bytes) -> bytes:
    body = b"".join(parts)
    return b"\x30" + _der_length(len(body)) + body


def _pkcs8_pem(algorithm_oid: bytes, parameters: tuple[int, ...], private: int) -> str:
    """A PKCS#8 private key of an algorithm with integer parameters (DSA, DH): crafted values,
    for keys whose decoding makes OpenSSL compute (g^x mod p) or test p for primality."""
    params = _der_sequence(*(_der_integer(v) for v in parameters))
    key = _der_integer(private)
    der = _der_sequence(
        _der_integer(0),
        _der_sequence(b"\x06" + _der_length(len(algorithm_oid)) + algorithm_oid, params),
        b"\x04" + _der_length(len(key)) + key,
    )
    b64 = base64.encodebytes(der).decode()
    return f"-----BEGIN PRIVATE KEY-----\n{b64}-----END PRIVATE KEY-----\n"


def dsa_key_pem(p: int, q: int, g: int, x: int) -> str:
    """A PKCS#8 DSA private key of exactly these values."""
    return _pkcs8_pem(bytes.fromhex("2a8648ce380401"), (p, q, g), x)


def dh_key_pem(p: int, g: int, x: int) -> str:
    """A PKCS#8 (PKCS#3) DH private key of exactly these values."""
    return _pkcs8_pem(bytes.fromhex("2a864886f70d010301"), (p, g), x)
