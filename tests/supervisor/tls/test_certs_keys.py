"""Which keys a tls transport accepts (what OpenSSL serves with our cipher list, measured in
test_certs_keys_lab.py), and that every check is bounded before any costly operation."""

from __future__ import annotations

import base64
import datetime
import functools
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID

from lab.pki import Issued, SigningKey, dh_key_pem, dsa_key_pem, rsa_key_pem, self_signed
from supervisor.site.limits import MAX_CERT_PEM_BYTES, MAX_KEY_PEM_BYTES, RSA_BITS
from supervisor.tls import certs as tls
from tests.supervisor.site.test_tls import problems, tls_secrets, tls_site

KEYS = {
    "rsa-1024": lambda: rsa.generate_private_key(65537, 1024),
    "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
    "dsa-1024": lambda: dsa.generate_private_key(1024),
    "p-256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p-384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p-521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1()),
    "p-224": lambda: ec.generate_private_key(ec.SECP224R1()),
    "brainpoolP256r1": lambda: ec.generate_private_key(ec.BrainpoolP256R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ed448": ed448.Ed448PrivateKey.generate,
}
# DSA keys are made on purpose (to be refused): cryptography's warning about them is expected.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

#: The kinds OpenSSL 3 serves to TLS 1.2 and 1.3 clients with our cipher list (the lab test).
SERVED = {"rsa-2048", "p-256", "p-384", "p-521", "ed25519", "ed448"}


@functools.cache
def issued(kind: str) -> Issued:
    key: SigningKey = KEYS[kind]()
    return self_signed(key)


def check(cert: str, key: str) -> tls.CertInfo:
    return tls.check_pair(cert, key, cert_what="c", key_what="k", now=time.time())


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_only_keys_openssl_serves_are_accepted(kind: str) -> None:
    """A key is accepted exactly when OpenSSL serves it to TLS 1.2 and 1.3 clients."""
    pair = issued(kind)
    if kind in SERVED:
        assert check(pair.cert_pem, pair.key_pem).fingerprint == pair.fingerprint
    else:
        with pytest.raises(tls.KeyProblem, match=r"^k is an? (RSA|DSA|EC) key"):
            check(pair.cert_pem, pair.key_pem)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("rsa-1024", "RSA key of 1024 bits: OpenSSL refuses RSA keys under 2048 bits"),
        ("dsa-1024", "DSA key: TLS 1.3 has no DSA"),
        ("secp256k1", "curve secp256k1: clients do not offer it (no shared cipher)"),
        ("brainpoolP256r1", "brainpoolP256r1: TLS 1.2 clients cannot use it"),
    ],
)
def test_refused_key_is_located_at_its_secret_key_with_the_reason(kind: str, reason: str) -> None:
    """An unservable key is one problem at the transport's key_secret, naming the Secret key and
    why; nothing of the key is printed."""
    found = problems(tls_site(), tls_secrets(**issued(kind).secret_files()))
    assert len(found) == 1
    assert found[0].startswith("transports.tls6.tls.key_secret: secret key")
    assert reason in found[0]


def _oversized_rsa(bits: int) -> str:
    """An RSA key whose modulus has `bits` bits (crafted: no primes, never generated)."""
    n = (1 << (bits - 1)) | 1
    return rsa_key_pem(n, 65537, n - 2, 3, 5, 1, 1, 1)


@pytest.mark.parametrize("bits", [RSA_BITS[1] + 1, 8676, 20_000])
def test_large_rsa_key_is_refused_by_its_size_at_once(bits: int) -> None:
    """An RSA key over the limit (a crafted 20,000-bit one included) is refused by its size,
    before any check of its values (its time: bench/reports/tls-check.md)."""
    with pytest.raises(tls.KeyProblem, match=rf"RSA key of {bits} bits: at most {RSA_BITS[1]}"):
        check(issued("p-256").cert_pem, _oversized_rsa(bits))


def test_inconsistent_rsa_key_is_refused() -> None:
    """An RSA key whose public half is the certificate's but whose private values do not fit
    together (one CRT value changed) is refused: the listener could not sign with it."""
    pair = issued("rsa-2048")
    key = serialization.load_pem_private_key(pair.key_pem.encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    v = key.private_numbers()
    good = (v.public_numbers.n, v.public_numbers.e, v.d, v.p, v.q, v.dmp1, v.dmq1, v.iqmp)
    assert check(pair.cert_pem, rsa_key_pem(*good)).fingerprint == pair.fingerprint
    for index in (2, 5, 6, 7):  # d, dP, dQ, qInv
        bad = list(good)
        bad[index] += 2
        with pytest.raises(tls.KeyProblem, match="not a consistent RSA key"):
            check(pair.cert_pem, rsa_key_pem(*bad))


def test_oversized_pem_texts_are_refused_before_parsing() -> None:
    """A certificate text over 64 KiB or a key text over 16 KiB is refused by its length."""
    pair = issued("p-256")
    padding = "\n" * MAX_CERT_PEM_BYTES
    with pytest.raises(tls.TlsProblem, match="c is larger than 64 KiB"):
        check(pair.cert_pem + padding, pair.key_pem)
    with pytest.raises(tls.KeyProblem, match="k is larger than 16 KiB"):
        check(pair.cert_pem, pair.key_pem + "\n" * MAX_KEY_PEM_BYTES)


def test_subject_that_is_not_utf8_is_a_located_problem() -> None:
    """A certificate whose subject claims UTF-8 but holds other bytes is refused with the
    transport's key path, not a traceback."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "QQQQQQQQ")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER).replace(b"QQQQQQQQ", b"\xff\xfeQQ\xc3(QQ")
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
    secret = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    found = problems(tls_site(), tls_secrets(**{"tls.crt": pem, "tls.key": secret}))
    assert found == [
        "transports.tls6.tls.cert_secret: the certificate in secret key 'tls.crt' has a subject "
        "that is not valid text"
    ]


def _big(bits: int) -> int:
    return (1 << (bits - 1)) | (1 << (bits // 2)) | 1


@pytest.mark.parametrize(
    ("key", "message"),
    [
        # OpenSSL computes g^x mod p while decoding these (0.18 s for 4096 bits), and tests a
        # DH p for primality (7.7 s for 10,000 bits): refused from their header, unopened.
        (dsa_key_pem(_big(4096), _big(4000), _big(4000), _big(4000)), "k is a DSA key"),
        (dh_key_pem(_big(10_000), 2, _big(9_990)), "k is not a key a TLS server can use here"),
    ],
)
def test_keys_openssl_would_compute_on_are_refused_before_decoding(
    key: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crafted DSA and DH keys are refused by the algorithm in their DER header, never given
    to OpenSSL's decoder."""
    cert = issued("p-256").cert_pem

    def decoder(*args: object, **kwargs: object) -> None:
        raise AssertionError("the decoder was given a key it computes on")

    monkeypatch.setattr(tls.serialization, "load_der_private_key", decoder)
    with pytest.raises(tls.KeyProblem, match=message):
        check(cert, key)


def test_key_kinds_read_from_the_pem_text() -> None:
    """An EC key with explicit curve parameters and an X25519 key are refused with their
    reason; an encrypted key is named as such; a key after a certificate in the same text is
    found."""
    explicit = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(tls.KeyProblem, match=r"^k is not a key a TLS server can use"):
        check(issued("p-256").cert_pem, _pkcs8(x25519.X25519PrivateKey.generate()))
    encrypted = explicit.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"),
    ).decode()
    with pytest.raises(tls.KeyProblem, match=r"^k is encrypted"):
        check(issued("p-256").cert_pem, encrypted)
    pair = issued("p-384")
    assert check(pair.cert_pem, pair.cert_pem + pair.key_pem).fingerprint == pair.fingerprint
    der = explicit.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The named curve (P-256's OID, 06 08 2a8648ce3d030107) replaced by an explicit-parameters
    # SEQUENCE header: the decoder is never asked.
    named = bytes.fromhex("06082a8648ce3d030107")
    assert named in der
    spoiled = der.replace(named, bytes.fromhex("3008") + named[2:])
    pem = "-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(spoiled).decode()
    with pytest.raises(tls.KeyProblem, match="explicit curve parameters"):
        check(issued("p-256").cert_pem, pem + "-----END PRIVATE KEY-----\n")


def _pkcs8(key: x25519.X25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_a_subject_with_a_line_break_is_kept_escaped() -> None:
    """A subject that is valid text but holds a newline or an escape character is kept as
    one escaped line (it may reach /status and logs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pair = self_signed(key, "pbx\nforged: line\x1b[2J")
    info = check(pair.cert_pem, pair.key_pem)
    assert "\n" not in info.subject
    assert "\x1b" not in info.subject
    assert "forged: line" in info.subject
