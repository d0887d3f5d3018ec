"""Certificate rotation through the real entrypoint (the supervisor process as the pod's PID 1,
examples/home): a renewed certificate in the Secret is served and confirmed in /status without
an Asterisk restart; a renewal whose key does not match is refused and the old one stays."""

from __future__ import annotations

import hashlib
import socket
import ssl

import pytest

from lab import netns, sipp
from lab.asterisk import RunDir, wait_until
from lab.fixtures import Started
from lab.netns import Lab
from lab.paths import REPO
from lab.pki import Ca
from lab.supervisor import SupervisorRun, read_dir

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"


def served(lab: Lab) -> str:
    """The certificate the pod's tls transport serves, by a handshake of the test's own."""

    def handshake() -> str:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection((netns.POD_V6, 5061), timeout=3) as raw,
            context.wrap_socket(raw) as tls,
        ):
            return hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()

    return netns.call_in(lab.pod, handshake)


def detail(sup: SupervisorRun, name: str = "tls certificate tls6") -> str:
    return str(next(c["detail"] for c in sup.status()["checks"] if c["name"] == name))


def asterisk_pid(lab: Lab) -> str:
    return lab.run("pod", ["pgrep", "-x", "asterisk"]).stdout.split()[0]


def test_entrypoint_rotates_the_certificate_and_refuses_a_bad_pair(
    lab: Lab, run_dir: RunDir, started: Started
) -> None:
    """Secret swap: within 10 s the new certificate is served and /status says so, Asterisk keeps
    its process; a wrong pair is refused (/status names the keys), the previous one stays."""
    ca = Ca("entrypoint test CA")
    first, second = ca.issue((netns.POD_V6,)), ca.issue((netns.POD_V6,))
    secrets = read_dir(EXAMPLE / "secrets") | first.secret_files(ca)
    # The provider answers, so that the shutdown's un-REGISTER does not wait for a timeout.
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    started.add(registrar.stop)
    sup = SupervisorRun(lab, run_dir, read_dir(EXAMPLE / "site"), secrets)
    started.add(sup.stop)
    sup.start().wait_ready(40)
    wait_until(
        lambda: f"serves the Secret's certificate (sha256 {first.fingerprint[:16]}" in detail(sup),
        10,
        0.1,
        "the first certificate confirmed",
    )
    pid = asterisk_pid(lab)
    sup.update_secrets(secrets | second.secret_files(ca))
    wait_until(lambda: served(lab) == second.fingerprint, 10, 0.05, "the new certificate served")
    # The check's own words for a match: a mismatch names the Secret's fingerprint too (as the
    # one expected), and under load the check can run before the listener has restarted.
    wait_until(
        lambda: f"serves the Secret's certificate (sha256 {second.fingerprint[:16]}" in detail(sup),
        10,
        0.1,
        "the rotation confirmed in /status",
    )
    assert (
        sup.metric("asterisk_supervisor_tls_certificate_served_matches", {"transport": "tls6"}) == 1
    )
    assert asterisk_pid(lab) == pid, "Asterisk was restarted"
    # A renewal whose key is another certificate's: refused, the second one stays served.
    wrong = ca.issue((netns.POD_V6,)).secret_files(ca) | {"tls.key": ca.issue().key_pem}
    sup.update_secrets(secrets | wrong)
    wait_until(
        lambda: "is not the key of the certificate" in detail(sup, "config"),
        10,
        0.1,
        "the bad pair refused",
    )
    assert served(lab) == second.fingerprint
    assert sup.metric("asterisk_supervisor_last_reload_successful") == 0
    assert "PRIVATE KEY" not in sup.output()
