"""The served-certificate check against a real TLS server on loopback whose certificate can be
swapped: match, a counted mismatch, a late listener restart within the settle time, no server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from prometheus_client import CollectorRegistry

from lab.pki import Ca, Issued
from supervisor.reload.plan import RestartReason
from supervisor.tls.served import ServedCertificates, Target, handshake, targets_of
from tests.supervisor.site.sites import load_dict

CA = Ca("served test CA")
A = CA.issue(("127.0.0.1",))
B = CA.issue(("127.0.0.1",))


class Server:
    """A TLS server on 127.0.0.1 serving `cert`; `serve()` swaps the certificate for new
    connections (as a restarted listener does)."""

    def __init__(self, cert: Issued) -> None:
        self.context = self._context(cert)
        self.port = 0

    @staticmethod
    def _context(cert: Issued) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:
            crt, key = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
            crt.write_text(cert.cert_pem)
            key.write_text(cert.key_pem)
            context.load_cert_chain(crt, key)
        return context

    def serve(self, cert: Issued) -> None:
        self.context = self._context(cert)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.start_tls(self.context)
            await reader.read(1)
        writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Server]:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()


def loaded(port: int, cert: Issued, name: str = "tls4") -> dict[str, Target]:
    """What a loaded site with one tls transport on port and this certificate yields (the
    site's own address, a documentation address, swapped for loopback where the server is)."""
    site = {
        "addresses": {"ipv4": "203.0.113.10"},
        "transports": {name: {"family": "ipv4", "protocol": "tls", "port": port}},
    }
    (target,) = targets_of(load_dict(site, cert.secret_files())).values()
    assert (target.host, target.fingerprint) == ("203.0.113.10", cert.fingerprint)
    return {name: dataclasses.replace(target, host="127.0.0.1")}


def value(registry: CollectorRegistry, name: str, transport: str = "tls4") -> float | None:
    return registry.get_sample_value(name, {"transport": transport})


async def test_handshake_reads_the_served_certificate() -> None:
    """The handshake returns the sha256 of the certificate the server serves, unverified."""
    async with Server(A).running() as server:
        assert await handshake("127.0.0.1", server.port, 3.0) == A.fingerprint
        server.serve(B)
        assert await handshake("127.0.0.1", server.port, 3.0) == B.fingerprint


async def test_mismatch_is_counted_and_reported_then_clears() -> None:
    """Serving A while the Secret has B: after `settle` a mismatch is counted, the gauge is 0 and
    /status names both fingerprints; once B is served the gauge is 1 and the count stays."""
    registry = CollectorRegistry()
    checker = ServedCertificates(registry=registry, settle=0.3, poll=0.05)
    async with Server(A).running() as server:
        checker.watch(loaded(server.port, B))
        expiry = value(registry, "asterisk_supervisor_tls_certificate_expiry_timestamp_seconds")
        assert expiry == checker.state["tls4"].target.not_after
        assert await checker.verify() == {"tls4": False}
        assert value(registry, "asterisk_supervisor_tls_certificate_served_matches") == 0
        assert value(registry, "asterisk_supervisor_tls_certificate_mismatches_total") == 1
        (check,) = checker.checks()
        assert not check.ok
        assert not check.gates_readiness
        assert f"serves sha256 {A.fingerprint[:16]}" in check.detail
        assert f"Secret's certificate is sha256 {B.fingerprint[:16]}" in check.detail
        server.serve(B)
        assert await checker.verify() == {"tls4": True}
        assert value(registry, "asterisk_supervisor_tls_certificate_served_matches") == 1
        assert value(registry, "asterisk_supervisor_tls_certificate_mismatches_total") == 1
        (check,) = checker.checks()
        assert check.ok
        assert "mismatches so far: 1" in check.detail


async def test_listener_restarting_within_settle_is_not_a_mismatch() -> None:
    """The new certificate served a little after the check starts (a listener restart in
    progress) is waited for, not counted."""
    registry = CollectorRegistry()
    checker = ServedCertificates(registry=registry, settle=3.0, poll=0.05)
    async with Server(A).running() as server:
        checker.watch(loaded(server.port, B))
        asyncio.get_running_loop().call_later(0.3, server.serve, B)
        assert await checker.verify() == {"tls4": True}
    assert value(registry, "asterisk_supervisor_tls_certificate_mismatches_total") == 0


async def test_no_listener_is_a_mismatch_with_the_reason() -> None:
    """Nothing listening on the transport: a mismatch whose detail says the handshake failed."""
    registry = CollectorRegistry()
    checker = ServedCertificates(registry=registry, settle=0.2, poll=0.05, timeout=1.0)
    async with Server(A).running() as server:
        port = server.port
    checker.watch(loaded(port, A))
    assert await checker.verify() == {"tls4": False}
    (check,) = checker.checks()
    assert check.detail.startswith("handshake failed")


async def test_removed_transport_drops_its_series_and_run_waits_for_ready() -> None:
    """A transport gone from the config leaves no series behind; run() checks only once
    Asterisk is ready, and then at once."""
    registry = CollectorRegistry()
    checker = ServedCertificates(registry=registry, settle=0.2, poll=0.05, interval=60)
    ready = asyncio.Event()
    async with Server(A).running() as server:
        checker.watch(loaded(server.port, A))
        task = asyncio.create_task(checker.run(ready))
        await asyncio.sleep(0.3)
        assert checker.state["tls4"].checked_at is None  # not ready: no handshake yet
        ready.set()
        for _ in range(100):
            if checker.state["tls4"].checked_at is not None:
                break
            await asyncio.sleep(0.02)
        assert checker.state["tls4"].matches
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        checker.watch(loaded(server.port, A, name="other"))
    assert value(registry, "asterisk_supervisor_tls_certificate_served_matches") is None
    assert value(registry, "asterisk_supervisor_tls_certificate_expiry_timestamp_seconds") is None
    assert set(checker.state) == {"other"}


async def test_transport_awaiting_a_restart_is_not_a_mismatch() -> None:
    """A tls transport whose change waits for an Asterisk restart (added, or bind changed) cannot
    serve yet: /status says it waits, and no mismatch is counted."""
    registry = CollectorRegistry()
    reasons = [RestartReason("transport tls4", "added")]
    checker = ServedCertificates(
        registry=registry, settle=0.2, poll=0.05, timeout=1.0, awaiting_restart=lambda: reasons
    )
    async with Server(A).running() as server:
        port = server.port
    checker.watch(loaded(port, A))
    assert await checker.verify() == {"tls4": False}
    assert value(registry, "asterisk_supervisor_tls_certificate_mismatches_total") == 0
    (check,) = checker.checks()
    assert check.ok
    assert check.detail == "waits for the Asterisk restart its change needs"
    reasons.clear()
    assert await checker.verify() == {"tls4": False}
    assert value(registry, "asterisk_supervisor_tls_certificate_mismatches_total") == 1
