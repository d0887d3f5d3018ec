"""Live address monitoring: netlink events as hints, a periodic recheck, state for readiness.

A netlink address or route event is only a hint that something changed: the monitor then runs a
whole check (debounced) and compares verdicts, so a missed or overflowed event costs at most one
recheck interval. Each change of state is logged once; an unchanged state is not logged again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn, Protocol

from prometheus_client import CollectorRegistry
from pyroute2 import AsyncIPRoute
from pyroute2.netlink.rtnl import (
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV4_ROUTE,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_IPV6_ROUTE,
    RTMGRP_LINK,
)

from supervisor.addresses.check import Probe, check_async
from supervisor.addresses.fromsite import SiteLike, expected_from_site
from supervisor.addresses.metrics import AddressCollector
from supervisor.addresses.model import AddressStatus, ExpectedAddress, Report, Trunk
from supervisor.backoff import Backoff
from supervisor.status import Check

log = logging.getLogger(__name__)

# Addresses come and go (IFADDR); routes decide the egress source (ROUTE); carrier decides DAD.
_GROUPS = (
    RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_LINK
)

# Called with the required addresses that were usable, were lost and are usable again: the
# entrypoint reloads res_pjsip (or restarts Asterisk), since Asterisk never retries a transport
# whose bind failed.
RecoveryCallback = Callable[[tuple[ExpectedAddress, ...]], Awaitable[None]]


class AppliedSite(Protocol):
    """The monitor's view of an applied config (`supervisor.reload.Config` satisfies it)."""

    @property
    def site(self) -> SiteLike: ...


class AddressesNotUsable(Exception):
    """Start-up gating gave up: a required address is still not usable after the timeout."""


def _describe(status: AddressStatus) -> str:
    where = f" on {status.interface}/{status.prefixlen}" if status.interface else ""
    return f"{status.state}{where}"


class AddressMonitor:
    """Watches the pod's expected addresses and trunk egress; run() must be running.

    Construct once in the composition root, subscribe it to the live config (`on_config`: the
    expected addresses and trunks follow every applied site; `override`, from the settings,
    replaces the site's addresses), start `run()` as a task, then `await gate(timeout)` before
    every Asterisk start; readiness reads `all_required_usable`.
    """

    def __init__(
        self,
        *,
        expected: Sequence[ExpectedAddress] = (),
        trunks: Sequence[Trunk] = (),
        override: Sequence[ExpectedAddress] = (),
        recheck_interval: float = 5.0,
        debounce: float = 0.05,
        on_recovered: RecoveryCallback | None = None,
        registry: CollectorRegistry | None = None,
        probe: Probe | None = None,
    ) -> None:
        self.expected = tuple(expected)
        self.trunks = tuple(trunks)
        self.override = tuple(override)
        self.recheck_interval = recheck_interval
        self.debounce = debounce
        self.on_recovered = on_recovered
        self.probe = probe
        self.report: Report | None = None
        self.changes = 0
        self._checked = asyncio.Event()
        self._hint = asyncio.Event()
        self._ever_usable: set[ExpectedAddress] = set()
        self._callbacks: set[asyncio.Task[None]] = set()
        self._last_error: str | None = None
        if registry is not None:
            registry.register(AddressCollector(self))

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: watch its addresses and trunks from now on."""
        self.expect(*expected_from_site(config.site, self.override))

    def expect(self, expected: Sequence[ExpectedAddress], trunks: Sequence[Trunk]) -> None:
        """Check these addresses and trunk egresses from now on (at once when they changed).
        Until a check covers a new required address, it gates readiness and Asterisk starts."""
        expected, trunks = tuple(expected), tuple(trunks)
        if (expected, trunks) == (self.expected, self.trunks):
            return
        log.info(
            "expected addresses now %s; trunks %s",
            ", ".join(str(e.address) for e in expected) or "none",
            ", ".join(t.name for t in trunks) or "none",
        )
        self.expected, self.trunks = expected, trunks
        self._hint.set()

    def _unchecked(self) -> tuple[ExpectedAddress, ...]:
        """Required addresses the last report does not cover (expected since it was made)."""
        report = self.report
        return tuple(
            e
            for e in self.expected
            if e.required and (report is None or report.status_of(e.address) is None)
        )

    def usable(self) -> bool:
        """`all_required_usable`, as a callable (for the parts that poll it)."""
        return self.all_required_usable

    @property
    def all_required_usable(self) -> bool:
        """Readiness: every required address is present, not tentative and bindable."""
        report = self.report
        return report is not None and report.all_required_usable and not self._unchecked()

    def checks(self) -> list[Check]:
        """For the status board: one check per address (required ones gate readiness), one per
        trunk egress and one for warnings (shown, not gating: readiness cannot fix routing)."""
        report = self.report
        if report is None:
            return [Check(name="addresses", ok=False, detail="not checked yet")]
        result = [
            Check(
                name=f"address {s.expected.address}",
                ok=s.usable,
                detail=_describe(s),
                gates_readiness=s.expected.required,
            )
            for s in report.addresses
        ]
        result += [
            Check(name=f"address {e.address}", ok=False, detail="not checked yet")
            for e in self._unchecked()
        ]
        result += [
            Check(
                name=f"egress {e.trunk} {e.family}",
                ok=e.correct,
                detail=e.error or f"source {e.selected} toward {e.provider}",
                gates_readiness=False,
            )
            for e in report.egress
        ]
        warnings = report.warnings
        result.append(
            Check(
                name="address warnings",
                ok=not warnings,
                detail="; ".join(w.message for w in warnings) or "none",
                gates_readiness=False,
            )
        )
        return result

    async def run(self) -> NoReturn:
        """Check now, then on every netlink hint (debounced) and every recheck_interval."""
        watcher = asyncio.create_task(self._watch_netlink(), name="addresses-netlink")
        ipr = AsyncIPRoute()
        try:
            while True:
                await self._check_once(ipr)
                # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation that
                # races with the wait finishing, and this task must stop when cancelled.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.recheck_interval):
                        await self._hint.wait()
                    # A change comes as a burst (address, route, flags): one check after it.
                    await asyncio.sleep(self.debounce)
                self._hint.clear()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            ipr.close()

    async def gate(self, timeout: float) -> Report:
        """Start gating (before every Asterisk start, restarts included: Asterisk drops a
        transport whose address is not bindable): say what is missing, then `wait_usable`."""
        if self.report is not None and not self.all_required_usable:
            missing = "; ".join(
                f"{c.name}: {c.detail}" for c in self.checks() if c.gates_readiness and not c.ok
            )
            log.warning(
                "not starting Asterisk until the required addresses are usable (%s)", missing
            )
        return await self.wait_usable(timeout)

    async def wait_usable(self, timeout: float, progress_interval: float = 5.0) -> Report:
        """Wait until every required address is usable; log progress; raise on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            report = self.report
            if report is not None and report.all_required_usable:
                return report
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AddressesNotUsable(self._not_usable_message(timeout))
            checked = self._checked
            try:
                async with asyncio.timeout(min(remaining, progress_interval)):
                    await checked.wait()
            except TimeoutError:
                log.info(
                    "waiting for the pod's addresses (%.0f s left): %s",
                    max(0.0, deadline - loop.time()),
                    self._pending(),
                )

    def _pending(self) -> str:
        if self.report is None:
            return "no check done yet"
        return ", ".join(
            f"{s.expected.address} {_describe(s)}"
            for s in self.report.addresses
            if s.expected.required and not s.usable
        )

    def _not_usable_message(self, timeout: float) -> str:
        return f"required addresses not usable after {timeout:g} s: {self._pending()}"

    async def _check_once(self, ipr: AsyncIPRoute) -> None:
        try:
            report = await check_async(ipr, self.expected, self.trunks, self.probe)
        except Exception as exc:  # steady state: log once, keep the last verdict, retry
            text = f"{type(exc).__name__}: {exc}"
            if text != self._last_error:
                log.warning("address check failed (will retry): %s", text)
                self._last_error = text
            return
        self._last_error = None
        previous, self.report = self.report, report
        self._log_changes(previous, report)
        self._fire_recovery(previous, report)
        self._checked.set()
        self._checked = asyncio.Event()

    def _log_changes(self, previous: Report | None, report: Report) -> None:
        for status in report.addresses:
            old = previous.status_of(status.expected.address) if previous else None
            if old is not None and _describe(old) == _describe(status):
                continue
            if old is not None:
                self.changes += 1
            level = (
                logging.INFO if status.usable or not status.expected.required else logging.WARNING
            )
            log.log(
                level,
                "address %s (%s): %s%s",
                status.expected.address,
                status.expected.family,
                f"{_describe(old)} -> " if old else "",
                _describe(status),
            )
        old_egress = {(e.trunk, e.family): e for e in previous.egress} if previous else {}
        for egress in report.egress:
            before = old_egress.get((egress.trunk, egress.family))
            if before is not None and (before.selected, before.error) == (
                egress.selected,
                egress.error,
            ):
                continue
            if before is not None:
                self.changes += 1
            if egress.correct:
                log.info(
                    "trunk %s (%s): source %s toward %s",
                    egress.trunk,
                    egress.family,
                    egress.selected,
                    egress.provider,
                )
        old_findings = set(previous.findings) if previous else set()
        for finding in report.findings:
            if finding not in old_findings:
                log.log(
                    logging.ERROR if finding.severity == "error" else logging.WARNING,
                    "%s",
                    finding.message,
                )
        for finding in old_findings - set(report.findings):
            log.info("resolved: %s", finding.message)

    def _fire_recovery(self, previous: Report | None, report: Report) -> None:
        recovered = []
        for status in report.addresses:
            if not status.expected.required or not status.usable:
                continue
            old = previous.status_of(status.expected.address) if previous else None
            if status.expected in self._ever_usable and old is not None and not old.usable:
                recovered.append(status.expected)
            self._ever_usable.add(status.expected)
        if recovered and self.on_recovered is not None:
            task = asyncio.create_task(self._recover(tuple(recovered)), name="addresses-recovery")
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)

    async def _recover(self, recovered: tuple[ExpectedAddress, ...]) -> None:
        assert self.on_recovered is not None
        names = ", ".join(str(e.address) for e in recovered)
        log.info("usable again: %s; recovering Asterisk's transports", names)
        try:
            await self.on_recovered(recovered)
        except Exception:  # a failed recovery must not stop monitoring; the next change retries
            log.exception("recovery after %s came back failed", names)

    async def _watch_netlink(self) -> None:
        backoff = Backoff(initial=0.5, maximum=30.0, jitter=False)
        while True:
            ev = AsyncIPRoute()
            try:
                await ev.bind(groups=_GROUPS)
                # Events may have been missed while (re)subscribing: check once more.
                self._hint.set()
                while True:
                    received = False
                    async for _msg in ev.get():
                        received = True
                        self._hint.set()
                    if not received:
                        raise ConnectionError("netlink event socket closed")
                    backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # overflow (ENOBUFS) or a closed socket: resubscribe
                delay = backoff.next()
                log.warning("netlink events lost (%s); resubscribing in %.1f s", exc, delay)
            finally:
                ev.close()
            await asyncio.sleep(delay)
