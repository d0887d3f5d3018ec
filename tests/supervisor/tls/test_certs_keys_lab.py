"""The key kinds the loader accepts are exactly those the lab's Asterisk 22 serves over TLS 1.2
and 1.3 with our cipher list (docs/tls.md, "Which keys"): each kind is installed on a running
tls transport and reached with the rootfs's `openssl s_client`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import minimal
from lab.ami import LabAmi
from lab.asterisk import Asterisk, RunDir, write_config
from lab.netns import POD_V6, Lab
from lab.pki import Issued
from supervisor.site.model import DEFAULT_CIPHERS
from supervisor.tls import certs as tls
from tests.supervisor.tls.test_certs_keys import KEYS, issued

pytestmark = [
    pytest.mark.lab,
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]


class TlsPbx:
    """An Asterisk with one hand-written tls transport whose pair is replaced in place."""

    def __init__(self, lab: Lab, run: RunDir, rootfs: Path) -> None:
        self.lab, self.run, self.rootfs = lab, run, rootfs
        self.base = minimal.config(run, "lab", "keys-secret", "pod1", "pw")
        self.asterisk = Asterisk(lab, run)
        self.ami: LabAmi | None = None

    def pjsip(self) -> str:
        etc = self.run.path("etc")
        return self.base["pjsip.conf"] + (
            f"\n[tls6]\ntype = transport\nprotocol = tls\nbind = [{POD_V6}]:5061\n"
            f"cert_file = {self.run.inside(etc / 'tls.crt')}\n"
            f"priv_key_file = {self.run.inside(etc / 'tls.key')}\n"
            f"method = sslv23\ncipher = {','.join(DEFAULT_CIPHERS)}\nallow_reload = no\n"
        )

    def install(self, pair: Issued) -> None:
        write_config(self.run, {"tls.crt": pair.cert_pem, "tls.key": pair.key_pem})
        assert self.ami is not None
        reply = self.ami.action({"Action": "Reload", "Module": "res_pjsip.so"})
        assert reply[0]["Response"] == "Success"

    def serves(self, pair: Issued, version: str) -> bool:
        """Whether a client of that version gets this pair's certificate (polled briefly: the
        listener restarts a few milliseconds after the reload returns: docs/tls.md)."""
        command = f"sleep 0.3 | openssl s_client -connect [{POD_V6}]:5061 {version} 2>&1"
        wanted = "".join(pair.cert_pem.split())
        deadline = time.monotonic() + 1
        while True:
            argv = ["chroot", str(self.rootfs), "sh", "-c", command]
            out = self.lab.run("provider", argv, check=False)
            if wanted in "".join(out.stdout.split()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


@pytest.fixture
def pbx(lab: Lab, run_dir: RunDir, rootfs: Path) -> Iterator[TlsPbx]:
    the_pbx = TlsPbx(lab, run_dir, rootfs)
    first = issued("p-256")
    files = {**the_pbx.base, "pjsip.conf": the_pbx.pjsip()}
    write_config(run_dir, {**files, "tls.crt": first.cert_pem, "tls.key": first.key_pem})
    the_pbx.asterisk.start()
    try:
        the_pbx.ami = LabAmi(lab.pod, "lab", "keys-secret")
        the_pbx.ami.connect()
        the_pbx.ami.wait_fully_booted()
        assert the_pbx.serves(first, "-tls1_3")
        yield the_pbx
    finally:
        if the_pbx.ami is not None:
            the_pbx.ami.close()
        the_pbx.asterisk.stop()


def test_accepted_keys_are_exactly_those_asterisk_serves(pbx: TlsPbx) -> None:
    """For every key kind: the loader accepts it if and only if Asterisk serves it to both a
    TLS 1.2 and a TLS 1.3 client (RSA 1024 is refused at load, secp256k1/P-224/DSA find no
    shared cipher, brainpool serves TLS 1.3 only)."""
    served: dict[str, tuple[bool, bool]] = {}
    accepted: dict[str, bool] = {}
    for kind in sorted(KEYS):
        pair = issued(kind)
        pbx.install(pair)
        served[kind] = (pbx.serves(pair, "-tls1_2"), pbx.serves(pair, "-tls1_3"))
        try:
            tls.check_pair(
                pair.cert_pem, pair.key_pem, cert_what="c", key_what="k", now=time.time()
            )
            accepted[kind] = True
        except tls.TlsProblem:
            accepted[kind] = False
        pbx.install(issued("p-256"))  # a good pair between kinds: no kind sees the last one
    assert {k: all(v) for k, v in served.items()} == accepted, served
    assert served["brainpoolP256r1"] == (False, True)  # why TLS 1.3 alone is not enough
