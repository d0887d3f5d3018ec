"""Which certificate each tls transport really serves, checked by a TLS handshake to it.

A res_pjsip reload answers Success whatever happened to a TLS listener, so after every apply
(and every `interval`) a handshake to each tls transport reads the certificate Asterisk serves
and compares its sha256 fingerprint with the one of the certificate in the live config (the
Secret's). A mismatch still present `settle` seconds after the apply is counted and shown in
/status; the gauges say, per transport, whether the served certificate matches and when the
Secret's certificate expires.

How Asterisk 22 rotates a TLS certificate (measured on 22.10.1 with its bundled pjproject, pinned
by tests/supervisor/reload/test_asterisk_tls_facts_lab.py; docs/tls.md has the table):

- With `allow_reload = no` (the default, which the renderer writes), a `Reload res_pjsip.so`
  restarts a TLS transport's listener (pjsip_tls_transport_restart) when the certificate or key
  file under the **same path** has a different size or mtime. New handshakes get the new
  certificate a few milliseconds after the reload returns; established TLS connections (and so
  registrations and calls on them) are kept. pjsip.conf need not change: a transport with
  certificate files marks the config as having dynamic contents, so the reload re-reads it.
- A **changed path** is refused: "Unable to restart TLS transport ... as certificate or private
  key filename has changed"; the old certificate stays served, and the transport does not pick up
  any later change until Asterisk restarts. So the files are never renamed (content-addressed
  names, which asterisk #858 seems to suggest, would wedge the transport).
- A key that does not match its certificate makes the restarted listener reset every new
  handshake (existing connections live on) until a good pair arrives: the site loader refuses
  such a pair, so it is never written.
- `allow_reload = yes` also picks up a renamed file, but re-binds the listener on any change
  (about 100 ms without a listener) and applies bind/protocol changes half-way: not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from supervisor.status import Check

log = logging.getLogger(__name__)

NS = "asterisk_supervisor"
HANDSHAKE_TIMEOUT = 3.0

Probe = Callable[[str, int, float], Awaitable[str]]
"""(host, port, timeout) -> sha256 hex fingerprint of the certificate served there."""


async def handshake(host: str, port: int, timeout: float) -> str:
    """The sha256 fingerprint (hex) of the certificate a TLS server at host:port serves.

    The client does not verify: it reads what is served, whatever it is."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with asyncio.timeout(timeout):
        _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname="")
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        finally:
            # No TLS shutdown: asyncio would wait (up to 30 s) for the server's close_notify,
            # which pjsip does not send. We have what we came for.
            writer.transport.abort()
    if not der:
        raise OSError("no certificate was served")
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Target:
    """A tls transport of the live config: where it listens and what it must serve."""

    transport: str
    host: str
    port: int
    fingerprint: str
    not_after: float


@dataclass(frozen=True)
class Served:
    """The last check of one transport."""

    target: Target
    served: str | None = None
    error: str | None = None
    checked_at: float | None = None
    mismatches: int = 0

    @property
    def matches(self) -> bool:
        return self.served == self.target.fingerprint


async def run_checks(
    wake: asyncio.Event,
    interval: float,
    ready: asyncio.Event | None,
    check: Callable[[], Awaitable[None]],
) -> NoReturn:
    """The loop of a periodic check: after each `wake` and at least every `interval` seconds,
    only while `ready` is set (Asterisk fully booted), and at once after each boot."""
    while True:
        if ready is not None and not ready.is_set():
            await ready.wait()
            wake.set()
        # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation that races
        # with the wait finishing, and this task must stop when cancelled.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await wake.wait()
        wake.clear()
        if ready is None or ready.is_set():
            await check()


class AppliedSite(Protocol):
    """The checker's view of an applied config (`supervisor.reload.Config` satisfies it)."""

    @property
    def loaded(self) -> Any: ...


class RestartReason(Protocol):
    """Why a change waits for an Asterisk restart (`reload.plan.RestartReason`): its subject
    (`transport NAME`, a file)."""

    @property
    def subject(self) -> str: ...


def targets_of(loaded: Any) -> dict[str, Target]:
    """Each tls transport of a loaded site with its address, port and certificate."""
    site = loaded.site
    out: dict[str, Target] = {}
    for name, info in loaded.certificates.items():
        transport = site.transports[name]
        host = site.addresses.of(transport.family)
        if host is None:  # the checks make this impossible; a wildcard still has the address
            continue
        out[name] = Target(name, host, transport.port, info.fingerprint, info.not_after)
    return out


def _short(fingerprint: str | None) -> str:
    return f"sha256 {fingerprint[:16]}" if fingerprint else "nothing"


class ServedCertificates:
    """Verifies served certificates after each apply and periodically (a named task)."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        probe: Probe = handshake,
        timeout: float = HANDSHAKE_TIMEOUT,
        settle: float = 10.0,
        interval: float = 60.0,
        poll: float = 0.2,
        clock: Callable[[], float] = time.time,
        awaiting_restart: Callable[[], Iterable[RestartReason]] = tuple,
    ) -> None:
        self._probe = probe
        # A transport added or changed waits for an Asterisk restart (res_pjsip does not reload
        # it): until then it cannot serve the new certificate, and that is no mismatch.
        self._awaiting_restart = awaiting_restart
        self._timeout = timeout
        self._settle = settle
        self._interval = interval
        self._poll = poll
        self._clock = clock
        self._wake = asyncio.Event()
        self._state: dict[str, Served] = {}
        self.expiry = Gauge(
            f"{NS}_tls_certificate_expiry_timestamp_seconds",
            "Unix time when the certificate of the live config (the Secret's) expires.",
            ["transport"],
            registry=registry,
        )
        self.matches = Gauge(
            f"{NS}_tls_certificate_served_matches",
            "1 if the transport serves the live config's certificate (TLS handshake), else 0.",
            ["transport"],
            registry=registry,
        )
        self.mismatches = Counter(
            f"{NS}_tls_certificate_mismatches",
            "Checks after which the transport still served another certificate than the Secret's.",
            ["transport"],
            registry=registry,
        )

    @property
    def state(self) -> Mapping[str, Served]:
        return dict(self._state)

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: its transports' certificates are what must be served."""
        self.expect(config.loaded)

    def expect(self, loaded: Any) -> None:
        """The live config changed (or Asterisk booted with it): check what is served now."""
        self.watch(targets_of(loaded))

    def watch(self, targets: Mapping[str, Target]) -> None:
        """Check these transports from now on (the others are forgotten)."""
        for name in set(self._state) - set(targets):
            del self._state[name]
            for metric in (self.expiry, self.matches, self.mismatches):
                metric.remove(name)
        for name, target in targets.items():
            previous = self._state.get(name)
            mismatches = previous.mismatches if previous else 0
            served = previous.served if previous else None
            self._state[name] = Served(target, served=served, mismatches=mismatches)
            self.expiry.labels(transport=name).set(target.not_after)
            self.matches.labels(transport=name).set(1 if served == target.fingerprint else 0)
            self.mismatches.labels(transport=name)
        self._wake.set()

    async def verify(self) -> dict[str, bool]:
        """Handshake with every transport until it serves the expected certificate or `settle`
        seconds passed; count and report those that do not."""
        self._wake.clear()
        deadline = time.monotonic() + self._settle
        pending = dict(self._state)
        while pending:
            results = await asyncio.gather(*(self._check(s.target) for s in pending.values()))
            for served in results:
                if served.target.transport in self._state:
                    self._record(served)
            pending = {s.target.transport: s for s in results if not s.matches}
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(self._poll)
        waiting = self.waiting()
        for name, served in pending.items():
            if name not in self._state or name in waiting:
                continue
            self.mismatches.labels(transport=name).inc()
            count = self._state[name].mismatches + 1
            self._state[name] = dataclasses.replace(self._state[name], mismatches=count)
            log.error(
                "tls transport %s serves %s, but the Secret's certificate is %s%s",
                name,
                _short(served.served),
                _short(served.target.fingerprint),
                f" ({served.error})" if served.error else "",
            )
        return {name: s.matches for name, s in self._state.items()}

    def waiting(self) -> set[str]:
        """Transports whose change waits for an Asterisk restart."""
        prefix = "transport "
        return {
            r.subject.removeprefix(prefix)
            for r in self._awaiting_restart()
            if r.subject.startswith(prefix)
        }

    async def _check(self, target: Target) -> Served:
        now = self._clock()
        try:
            served = await self._probe(target.host, target.port, self._timeout)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            return Served(
                target, error=f"handshake failed: {exc or type(exc).__name__}", checked_at=now
            )
        return Served(target, served=served, checked_at=now)

    def _record(self, served: Served) -> None:
        name = served.target.transport
        current = self._state[name]
        if current.target != served.target:
            return  # a newer config arrived meanwhile: its own check follows
        self._state[name] = dataclasses.replace(served, mismatches=current.mismatches)
        self.matches.labels(transport=name).set(1 if served.matches else 0)

    def recheck(self) -> None:
        """Verify now (e.g. Asterisk restarted: its listeners are new)."""
        self._wake.set()

    async def run(self, ready: asyncio.Event | None = None) -> NoReturn:
        """Forever: verify after each `expect()` and at least every `interval` seconds, only
        while `ready` (Asterisk fully booted) is set, and again after each boot."""
        await run_checks(self._wake, self._interval, ready, self._verify_if_any)

    async def _verify_if_any(self) -> None:
        if self._state:
            await self.verify()

    def checks(self) -> list[Check]:
        """One /status line per tls transport (shown, not gating readiness: calls still work)."""
        out = []
        waiting = self.waiting()
        for name, served in sorted(self._state.items()):
            target = served.target
            expires = time.strftime("%Y-%m-%d", time.gmtime(target.not_after))
            if served.checked_at is None:
                detail, ok = f"not checked yet (Secret: {_short(target.fingerprint)})", True
            elif served.matches:
                fingerprint = _short(target.fingerprint)
                detail = f"serves the Secret's certificate ({fingerprint}, expires {expires})"
                ok = True
            elif name in waiting:
                detail, ok = "waits for the Asterisk restart its change needs", True
            else:
                what = served.error or f"serves {_short(served.served)}"
                detail, ok = (
                    f"{what}; the Secret's certificate is {_short(target.fingerprint)}",
                    False,
                )
            if served.mismatches:
                detail += f"; mismatches so far: {served.mismatches}"
            out.append(
                Check(name=f"tls certificate {name}", ok=ok, detail=detail, gates_readiness=False)
            )
        return out
