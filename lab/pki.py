"""A throw-away certificate authority for the lab and the demo: a CA and the certificates it
issues, as PEM text (what cert-manager puts in a Secret as `ca.crt`, `tls.crt`, `tls.key`).

EC P-256 keys: generating them takes microseconds, so every test can have its own CA.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
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
            .sign(self.key, hashes.SHA256())
        )
        return Issued(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem=_key_pem(key),
            fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        )
