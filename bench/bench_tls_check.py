"""The cost of checking a tls transport's certificate and key (supervisor/tls/certs.py), for
ordinary, large and crafted inputs: every check must take < 100 ms whatever the input.

    python -m bench.bench_tls_check [--runs N] [--report bench/reports/tls-check.md]

Real keys are generated (an 8676-bit RSA key takes a minute or more); crafted ones are made of
chosen numbers (lab.pki.rsa_key_pem), as an attacker with write access to the Secret would. The
"before" column is OpenSSL's full RSA key check (what the loader ran until issue 26), measured
once per real RSA key for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bench.bench_render import machine
from bench.report import LoadSampler, header, write
from lab.pki import Ca, dh_key_pem, dsa_key_pem, rsa_key_pem, self_signed
from supervisor.site.limits import MAX_CERT_PEM_BYTES, MAX_KEY_PEM_BYTES
from supervisor.tls import certs as tls

REPORT = Path(__file__).resolve().parent / "reports" / "tls-check.md"
TARGET_MS = 100.0


@dataclass
class Case:
    name: str
    what: str
    cert: str
    key: str
    before: Callable[[], object] | None = None


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def real_rsa(bits: int) -> Case:
    key = rsa.generate_private_key(65537, bits)
    pair = self_signed(key)
    text = pair.key_pem.encode()

    def before() -> None:
        serialization.load_pem_private_key(text, None)

    what = f"a generated {bits}-bit RSA key and its certificate ({len(text):,} B of key)"
    return Case(f"rsa-{bits}", what, pair.cert_pem, pair.key_pem, before)


def crafted(bits: int, *, sizes: str) -> Case:
    """An RSA key with a `bits`-bit modulus made of non-prime numbers of chosen sizes."""
    n = (1 << (bits - 1)) | 1
    if sizes == "full":  # every value as long as a real key's: a ~15 KB key for 20,000 bits
        half = (1 << (bits // 2 - 1)) | 1
        text = rsa_key_pem(n, 65537, n - 2, half, half + 2, half - 2, half - 4, half - 6)
    else:  # the modulus alone as large as the byte limit allows
        text = rsa_key_pem(n, 65537, 3, 3, 5, 1, 1, 1)
    cert = self_signed(ec.generate_private_key(ec.SECP256R1())).cert_pem
    what = f"crafted: a {bits:,}-bit modulus, {len(text.encode()):,} B of key"
    return Case(f"crafted-rsa-{bits}-{sizes}", what, cert, text)


def inconsistent_8192(base: rsa.RSAPrivateKey) -> Case:
    """The certificate's own 8192-bit public key with private values that do not fit: the
    consistency arithmetic runs to the end on the largest allowed numbers."""
    v = base.private_numbers()
    n, e = v.public_numbers.n, v.public_numbers.e
    text = rsa_key_pem(n, e, n - 2, v.p, v.q, v.p - 2, v.q - 2, v.p - 1)
    what = "the certificate's 8192-bit public key, private values crafted to the largest sizes"
    return Case("crafted-rsa-8192-inconsistent", what, self_signed(base).cert_pem, text)


def computed_on() -> list[Case]:
    """Crafted DSA and DH keys under the byte limit: OpenSSL's decoder computes g^x mod p (DSA)
    or tests p for primality (DH) on them; "before" is that decoder given the key."""
    cert = self_signed(ec.generate_private_key(ec.SECP256R1())).cert_pem
    odd = [(1 << (bits - 1)) | (1 << (bits // 2)) | 1 for bits in (4096, 4000, 10_000, 9_990)]
    dsa = dsa_key_pem(odd[0], odd[1], odd[1], odd[1])
    dh = dh_key_pem(odd[2], 2, odd[3])
    cases = []
    for name, text, what in (
        ("crafted-dsa-4096", dsa, "crafted: a PKCS#8 DSA key, p of 4,096 bits"),
        ("crafted-dh-10000", dh, "crafted: a PKCS#8 DH key, p of 10,000 bits"),
    ):

        def before(text: str = text) -> None:
            with contextlib.suppress(ValueError):  # refused, after the work
                serialization.load_pem_private_key(text.encode(), None)

        cases.append(Case(name, f"{what} ({len(text):,} B)", cert, text, before))
    return cases


def chain_at_limit() -> Case:
    ca = Ca("bench CA")
    leaf = ca.issue(tuple(f"host{i}.pbx.example.org" for i in range(40)))
    extra = ca.cert_pem
    chain = leaf.cert_pem + extra * 9
    what = f"a leaf with 40 names and 9 more certificates: {len(chain.encode()):,} B"
    return Case("chain-10", what, chain, leaf.key_pem)


def oversized() -> list[Case]:
    pair = self_signed(ec.generate_private_key(ec.SECP256R1()))
    huge_key = pair.key_pem + "A" * (1024 * 1024)
    huge_cert = pair.cert_pem * (MAX_CERT_PEM_BYTES // len(pair.cert_pem) + 1000)
    return [
        Case("key-1mib", "a 1 MiB key text (refused by its length)", pair.cert_pem, huge_key),
        Case(
            "cert-many",
            f"{len(huge_cert.encode()) // 1024:,} KiB of certificates (refused by length)",
            huge_cert,
            pair.key_pem,
        ),
    ]


def small_keys() -> list[Case]:
    p521 = self_signed(ec.generate_private_key(ec.SECP521R1()))
    ed = self_signed(ed25519.Ed25519PrivateKey.generate())
    return [
        Case("ec-p521", "a P-521 key", p521.cert_pem, p521.key_pem),
        Case("ed25519", "an Ed25519 key", ed.cert_pem, ed.key_pem),
    ]


def once(case: Case) -> tuple[float, float, str]:
    start, cpu = time.perf_counter(), time.process_time()
    try:
        tls.check_pair(case.cert, case.key, cert_what="cert", key_what="key", now=time.time())
        outcome = "accepted"
    except tls.TlsProblem as exc:
        outcome = "refused: " + str(exc).removeprefix("key ").removeprefix("cert ")[:70]
    return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--quick", action="store_true", help="no keys over 4096 bits (CI)")
    args = parser.parse_args()
    cases = [real_rsa(2048), real_rsa(4096), *small_keys()]
    if not args.quick:
        big = real_rsa(8192)
        cases += [big, real_rsa(8676)]
        key = serialization.load_pem_private_key(big.key.encode(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        cases.append(inconsistent_8192(key))
    cases += [crafted(8676, sizes="full"), crafted(20_000, sizes="full")]
    # The largest modulus whose key still fits the byte limit (base64: 3 bytes in 4 chars).
    cases += [crafted(MAX_KEY_PEM_BYTES * 3 // 4 * 8 - 6_000, sizes="modulus")]
    cases += [*computed_on(), chain_at_limit(), *oversized()]
    with LoadSampler() as load:
        rows, worst = measure(cases, args.runs)
    verdict = "met" if worst < TARGET_MS else "NOT met"
    lines = [
        *header("TLS certificate and key check", load.summary(), report=args.report),
        f"`tls.check_pair` on each input, {args.runs} runs each (wall and CPU milliseconds).",
        f"Machine: {machine()}.",
        "",
        f"Target: every check < {TARGET_MS:.0f} ms whatever the input. Slowest run of all "
        f"cases: {worst:.2f} ms: {verdict}.",
        "",
        "| case | input | outcome | wall median (ms) | wall max (ms) | CPU median (ms) | before |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "before: OpenSSL's full RSA key check (primality of p and q), which the loader ran on",
        "every Secret change before the size limit and the congruence check replaced it; for the",
        "crafted DSA and DH keys, OpenSSL's decoder given the key (what ran before the",
        "algorithm was read from the key's DER header).",
        "",
    ]
    report = "\n".join(lines)
    if not args.quick:
        write(args.report, report)
    print(report)


def measure(cases: list[Case], runs: int) -> tuple[list[str], float]:
    """One table row per case, and the slowest run of all (ms)."""
    rows = []
    worst = 0.0
    for case in cases:
        walls, cpus, outcome = [], [], ""
        for _ in range(runs):
            wall, cpu, outcome = once(case)
            walls.append(wall)
            cpus.append(cpu)
        before = ""
        if case.before is not None:
            start = time.perf_counter()
            case.before()
            before = f"{time.perf_counter() - start:.2f} s"
        worst = max(worst, max(walls))
        rows.append(
            f"| {case.name} | {case.what} | {outcome} | {statistics.median(walls):.2f} | "
            f"{max(walls):.2f} | {statistics.median(cpus):.2f} | {before or '-'} |"
        )
        print(rows[-1], flush=True)
    return rows, worst


if __name__ == "__main__":
    main()
