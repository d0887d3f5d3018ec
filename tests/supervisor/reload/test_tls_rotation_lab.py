"""TLS certificates rotated live on a real Asterisk 22: a Secret swap is served within seconds
without a restart while a call over TLS goes on, a bad pair is refused with the old certificate
still served, and a certificate Asterisk does not serve is counted as a mismatch."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from lab import netns, phones, sites
from lab.asterisk import wait_until
from lab.kubelet import write_mount
from lab.pki import Ca, Issued
from lab.reloadpbx import LabPbx
from supervisor.reload import Applier, Reloader
from supervisor.site.load import load_site
from supervisor.site.mounts import read_mount
from supervisor.tls.served import ServedCertificates, handshake

pytestmark = pytest.mark.lab

CA = Ca("rotation test CA")
FIRST = CA.issue((netns.POD_V6,))


def tls_site() -> dict[str, Any]:
    """The home site with a tls transport for the desk phone, whose calls go to `hold`."""
    site = sites.home()
    site["transports"] = {
        "udp6": {"family": "ipv6"},
        "udp4": {"family": "ipv4"},
        "tls6": {"family": "ipv6", "protocol": "tls"},
    }
    site["endpoints"]["desk"]["transport"] = "tls6"
    site["endpoints"]["desk"]["context"] = "hold"
    return site


def set_certificate(pbx: LabPbx, issued: Issued, *, key: Issued | None = None) -> None:
    """A kubelet swap of the Secret holding the passwords and this certificate (and key)."""
    values = {**sites.secrets(pbx.password), **issued.secret_files(CA)}
    if key is not None:
        values["tls.key"] = key.key_pem
    write_mount(pbx.secrets, values, mode=0o600)


@pytest.fixture(scope="module")
def pbx(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabPbx]:
    the_pbx = LabPbx(rootfs, tmp_path_factory.mktemp("mounts"))
    try:
        the_pbx.set_site(tls_site())
        set_certificate(the_pbx, FIRST)
        yield the_pbx.start()
    finally:
        the_pbx.stop()


def served(pbx: LabPbx) -> str:
    """The fingerprint the pod's tls transport serves now (a handshake from inside the pod)."""
    assert pbx.pod_loop is not None
    return pbx.pod_loop.run(handshake(netns.POD_V6, 5061, 3.0), 5)


def served_or_none(pbx: LabPbx) -> str | None:
    """`served`, or None for a handshake that lands in the moment res_pjsip restarts the TLS
    listener (pjsip_tls_transport_restart, docs/tls.md): it is reset, and a phone retries."""
    try:
        return served(pbx)
    except OSError:
        return None


def verify(pbx: LabPbx, checker: ServedCertificates) -> dict[str, bool]:
    assert pbx.pod_loop is not None
    return pbx.pod_loop.run(checker.verify(), 30)


def channels(pbx: LabPbx) -> list[str]:
    assert pbx.ami is not None
    reply = pbx.ami.action({"Action": "CoreShowChannels"})
    return [m["Channel"] for m in reply if m.get("Event") == "CoreShowChannel"]


def uptime(pbx: LabPbx) -> str:
    assert pbx.ami is not None
    reply = pbx.ami.action({"Action": "CoreStatus"})
    return reply[0]["CoreStartupTime"]


@contextlib.asynccontextmanager
async def reloading(applier: Applier) -> AsyncIterator[None]:
    """The real reload loop (inotify watch, 1 s debounce) around the applier."""
    booted = asyncio.Event()
    booted.set()
    await applier.apply()
    reloader = Reloader(applier=applier, booted=booted)
    task = asyncio.create_task(reloader.run(), name="reload")
    try:
        # Measure from a quiet loop: watching, first apply done.
        deadline = time.monotonic() + 10
        while reloader.state.watch_mode == "stopped" or applier.state.last_attempt is None:
            assert time.monotonic() < deadline, "the reload loop did not start"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def checker(pbx: LabPbx) -> tuple[ServedCertificates, CollectorRegistry, Applier]:
    """A served-certificate checker fed by an applier whose baseline is FIRST."""
    set_certificate(pbx, FIRST)
    registry = CollectorRegistry()
    served_certs = ServedCertificates(registry=registry, settle=2.0, poll=0.1)
    applier = pbx.applier(registry, on_applied=lambda config: served_certs.expect(config.loaded))
    assert pbx.pod_loop is not None
    result = pbx.pod_loop.run(_apply(pbx, applier), 30)
    assert result in ("applied", "unchanged")
    loaded = load_site([read_mount(pbx.site)], [read_mount(pbx.secrets)])
    served_certs.expect(loaded)
    return served_certs, registry, applier


async def _apply(pbx: LabPbx, applier: Applier) -> str:
    return (await applier.apply(force=True)).outcome


async def test_rotation_is_served_within_seconds_and_the_call_goes_on(
    pbx: LabPbx, checker: tuple[ServedCertificates, CollectorRegistry, Applier]
) -> None:
    """A Secret swap: new handshakes get the new certificate within 10 s (measured), Asterisk is
    not restarted, and a call over TLS started before it ends normally on its own connection."""
    served_certs, registry, applier = checker
    assert served(pbx) == FIRST.fingerprint
    started_at = uptime(pbx)
    phone = phones.tls_phone(
        pbx.lab,
        pbx.run,
        "desk",
        "desk-secret",
        "100",
        CA.issue(("desk.example.org",)),
        hold_ms=8000,
    )
    try:
        wait_until(
            lambda: any(c.startswith("PJSIP/desk-") for c in channels(pbx)),
            15,
            0.1,
            "the desk phone's call over TLS is up",
        )
        assert pbx.ami is not None
        contacts = pbx.ami.action({"Action": "PJSIPShowContacts"})
        uris = [m.get("Uri", "") for m in contacts if m.get("Endpoint") == "desk"]
        assert any(";transport=tls" in uri.lower() for uri in uris), uris  # registered over TLS
        second = CA.issue((netns.POD_V6,))
        async with reloading(applier):
            applies = applier.state.applies
            swapped = time.monotonic()
            set_certificate(pbx, second)
            deadline = swapped + 10
            while served_or_none(pbx) != second.fingerprint:
                assert time.monotonic() < deadline, "the new certificate was not served in 10 s"
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - swapped
            # Served as soon as res_pjsip reloaded; the apply (read-back, then the new
            # expectation of the checker) ends a moment later: leave the loop after it.
            while applier.state.applies == applies:
                assert time.monotonic() < deadline, "the apply did not complete in 10 s"
                await asyncio.sleep(0.05)
        print(f"rotation: new certificate served {elapsed:.2f} s after the Secret swap")
        assert any(c.startswith("PJSIP/desk-") for c in channels(pbx)), "the call was cut"
        assert uptime(pbx) == started_at, "Asterisk was restarted"
        assert verify(pbx, served_certs) == {"tls6": True}
        labels = {"transport": "tls6"}
        assert (
            registry.get_sample_value("asterisk_supervisor_tls_certificate_served_matches", labels)
            == 1
        )
        expiry = registry.get_sample_value(
            "asterisk_supervisor_tls_certificate_expiry_timestamp_seconds", labels
        )
        assert expiry is not None
        assert abs(expiry - served_certs.state["tls6"].target.not_after) < 1
        # The BYE (and its 200) travel on the connection the INVITE used before the rotation.
        status = await asyncio.to_thread(phone.wait, 30)
        assert status == 0, phone.output()[-2000:]
    finally:
        phone.stop()


async def test_wrong_pair_is_refused_and_the_old_certificate_stays_served(
    pbx: LabPbx, checker: tuple[ServedCertificates, CollectorRegistry, Applier]
) -> None:
    """A Secret whose key is not the certificate's: the apply is rejected (naming both keys),
    nothing is written, and the transport keeps serving the previous certificate."""
    _, registry, applier = checker
    before = (pbx.etc / "tls-tls6.crt").read_text()
    set_certificate(pbx, CA.issue((netns.POD_V6,)), key=CA.issue((netns.POD_V6,)))
    result = await applier.apply()
    assert result.outcome == "rejected"
    assert (
        "secret key 'tls.key' is not the key of the certificate in secret key 'tls.crt'"
        in (result.problems[0])
    )
    assert "PRIVATE KEY" not in " ".join(result.problems)
    assert (pbx.etc / "tls-tls6.crt").read_text() == before
    assert served(pbx) == FIRST.fingerprint
    assert registry.get_sample_value("asterisk_supervisor_last_reload_successful") == 0


async def test_certificate_not_served_is_a_counted_mismatch(
    pbx: LabPbx, checker: tuple[ServedCertificates, CollectorRegistry, Applier]
) -> None:
    """When Asterisk serves another certificate than the live config's (here: new files written
    but no reload), the check counts a mismatch and /status says what is served."""
    served_certs, registry, _ = checker
    other = CA.issue((netns.POD_V6,))
    set_certificate(pbx, other)
    served_certs.expect(load_site([read_mount(pbx.site)], [read_mount(pbx.secrets)]))
    assert verify(pbx, served_certs) == {"tls6": False}
    labels = {"transport": "tls6"}
    assert (
        registry.get_sample_value("asterisk_supervisor_tls_certificate_served_matches", labels) == 0
    )
    assert (
        registry.get_sample_value("asterisk_supervisor_tls_certificate_mismatches_total", labels)
        == 1
    )
    (check,) = served_certs.checks()
    assert not check.ok
    assert f"serves sha256 {FIRST.fingerprint[:16]}" in check.detail
    assert f"the Secret's certificate is sha256 {other.fingerprint[:16]}" in check.detail
    assert "mismatches so far: 1" in check.detail
