"""The Asterisk 22 behaviour the certificate rotation is built on (docs/tls.md), pinned on the
lab's Asterisk with a hand-written TLS transport, so an Asterisk upgrade that changes it fails
here first: same path + res_pjsip reload serves the new certificate and keeps connections; a
renamed file is refused and wedges the transport; a key that is not the certificate's makes the
listener reset every handshake."""

from __future__ import annotations

import hashlib
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from lab import minimal, netns
from lab.ami import LabAmi
from lab.asterisk import Asterisk, RunDir, write_config
from lab.netns import POD_V6, Lab
from lab.pki import Ca, Issued

pytestmark = pytest.mark.lab

CA = Ca("facts CA")


class Pbx:
    def __init__(self, lab: Lab, run: RunDir) -> None:
        self.lab, self.run = lab, run
        self.base = minimal.config(run, "lab", "facts-secret", "pod1", "pw")
        self.asterisk = Asterisk(lab, run)
        self.ami: LabAmi | None = None

    def pjsip(self, cert: str, key: str) -> str:
        etc = self.run.path("etc")
        return self.base["pjsip.conf"] + (
            f"\n[tls6]\ntype = transport\nprotocol = tls\nbind = [{POD_V6}]:5061\n"
            f"cert_file = {self.run.inside(etc / cert)}\n"
            f"priv_key_file = {self.run.inside(etc / key)}\n"
            "method = sslv23\nallow_reload = no\n"
        )

    def put(self, files: dict[str, str]) -> None:
        write_config(self.run, files)  # atomic: a new file, so a new mtime

    def reload(self) -> None:
        assert self.ami is not None
        reply = self.ami.action({"Action": "Reload", "Module": "res_pjsip.so"})
        assert reply[0]["Response"] == "Success"

    def served(self) -> str:
        def handshake() -> str:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with (
                socket.create_connection((POD_V6, 5061), timeout=3) as raw,
                context.wrap_socket(raw) as tls,
            ):
                return hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()

        return netns.call_in(self.lab.pod, handshake)

    def install(self, cert: Issued, name: str = "tls") -> None:
        """The pair under `name`.crt/.key and pjsip.conf pointing at them, then a reload."""
        self.put({f"{name}.crt": cert.cert_pem, f"{name}.key": cert.key_pem})
        self.put({"pjsip.conf": self.pjsip(f"{name}.crt", f"{name}.key")})
        self.reload()


@pytest.fixture
def pbx(lab: Lab, run_dir: RunDir) -> Iterator[Pbx]:
    the_pbx = Pbx(lab, run_dir)
    first = CA.issue((POD_V6,))
    files = dict(the_pbx.base)
    files |= {"pjsip.conf": the_pbx.pjsip("tls.crt", "tls.key")}
    files |= {"tls.crt": first.cert_pem, "tls.key": first.key_pem}
    the_pbx.put(files)
    the_pbx.asterisk.start()
    try:
        the_pbx.ami = LabAmi(lab.pod, "lab", "facts-secret")
        the_pbx.ami.connect()
        the_pbx.ami.wait_fully_booted()
        assert the_pbx.served() == first.fingerprint
        yield the_pbx
    finally:
        if the_pbx.ami is not None:
            the_pbx.ami.close()
        the_pbx.asterisk.stop()


def options_answered(connection: ssl.SSLSocket) -> bool:
    """An OPTIONS on an established TLS connection gets a SIP response."""
    request = (
        f"OPTIONS sip:[{POD_V6}]:5061 SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS [{POD_V6}]:5099;branch=z9hG4bK{time.time_ns()}\r\n"
        f"From: <sip:probe@[{POD_V6}]>;tag=1\r\nTo: <sip:[{POD_V6}]>\r\n"
        f"Call-ID: {time.time_ns()}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    connection.sendall(request.encode())
    return connection.recv(4096).startswith(b"SIP/2.0 ")


def test_same_path_and_a_reload_serve_the_new_certificate_and_keep_connections(
    pbx: Pbx,
) -> None:
    """New content under the same file names + Reload res_pjsip.so: new handshakes get the new
    certificate at once; a TLS connection made before still carries SIP."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with netns.entered(pbx.lab.pod):
        raw = socket.create_connection((POD_V6, 5061), timeout=3)
    with context.wrap_socket(raw) as held:
        assert options_answered(held)
        second = CA.issue((POD_V6,))
        pbx.put({"tls.crt": second.cert_pem, "tls.key": second.key_pem})
        pbx.reload()
        assert pbx.served() == second.fingerprint
        assert options_answered(held)


def test_a_renamed_file_is_refused_and_the_transport_keeps_the_old_certificate(pbx: Pbx) -> None:
    """cert_file/priv_key_file pointing at new names (content-addressed paths): Asterisk logs
    that it cannot restart the transport and keeps serving the old certificate, even after a
    later change of the new files."""
    old = pbx.served()
    renamed = CA.issue((POD_V6,))
    pbx.install(renamed, name="tls-renamed")
    assert pbx.served() == old
    assert "certificate or private key filename has changed" in pbx.asterisk.log_text()
    pbx.install(CA.issue((POD_V6,)), name="tls-renamed")
    assert pbx.served() == old


def test_a_key_that_is_not_the_certificates_resets_every_handshake(pbx: Pbx) -> None:
    """A wrong pair under the same names: the restarted listener resets new handshakes (why the
    supervisor refuses such a pair before writing it), until a good pair arrives."""
    cert, other = CA.issue((POD_V6,)), CA.issue((POD_V6,))
    pbx.put({"tls.crt": cert.cert_pem, "tls.key": other.key_pem})
    pbx.reload()
    with pytest.raises((ConnectionResetError, ssl.SSLError)):
        pbx.served()
    pbx.put({"tls.key": cert.key_pem})
    pbx.reload()
    assert pbx.served() == cert.fingerprint
