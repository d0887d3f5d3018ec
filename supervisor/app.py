"""The composition root: the only module that knows every part.

Start-up order: settings → load and validate the site (fatal when invalid: there is no last good
config yet) → render and write → wait for the pod's required addresses → start Asterisk → wait for
FullyBooted over AMI → watch and reload. HTTP (probes, status, metrics) is up from the first moment
and only reads state. Every long-running task is named and guarded; signal handlers only set
events; shutdown is one path: drain, stop Asterisk, cancel the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import signal
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics

from supervisor import http, logs
from supervisor.addresses.fromsite import expected_from_site
from supervisor.addresses.model import ExpectedAddress
from supervisor.addresses.monitor import AddressesNotUsable, AddressMonitor
from supervisor.ami.checks import ami_checks
from supervisor.ami.client import AmiClient, AmiSettings
from supervisor.ami.quality import CallQuality
from supervisor.ami.state import AsteriskState
from supervisor.ami.types import AmiError
from supervisor.health import add_health_routes
from supervisor.metrics.asterisk import AsteriskCollector
from supervisor.metrics.quality import QualityCollector
from supervisor.metrics.voicemail import MailboxCounts, MailboxPoller, VoicemailCollector
from supervisor.process.asterisk import AsteriskProcess, AsteriskSupervisor, CrashLoop
from supervisor.process.console import run_command
from supervisor.process.drain import drain
from supervisor.process.reaper import Reaper, become_subreaper
from supervisor.reload import Applier, ConfigDir, Reloader, ReloadMetrics, StartupError
from supervisor.reload.served import ServedCertificates
from supervisor.render import MODULE_OF_FILE, Directories, RenderContext, render
from supervisor.render.voicemail import mailbox
from supervisor.security import events as security_events
from supervisor.security.fromsite import policy_settings
from supervisor.security.guard import SecurityGuard
from supervisor.security.store import BanStore
from supervisor.settings import Mode, Settings
from supervisor.site.changes import restart_required
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import LoadedSite, load_site, load_site_dirs
from supervisor.status import Check, Heartbeat, StatusBoard
from supervisor.storage import PersistenceError, RunUser, check_persistent

log = logging.getLogger("supervisor")

EXIT_OK = 0
EXIT_STARTUP = 1
EXIT_CRASH_LOOP = 3


class StartupFailure(Exception):
    """Start-up cannot complete; the message is the one line the operator needs."""


class _Stopped(Exception):
    """Raised by the shutdown path to end the task group after a clean drain."""


async def guard(name: str, coro: Coroutine[Any, Any, Any]) -> NoReturn:
    """Run a task that must never return: log how it ended, and make a return an error (a
    TaskGroup only cancels its siblings when one raises)."""
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except (_Stopped, StartupFailure, CrashLoop):
        raise
    except Exception:
        log.exception("task %s failed", name)
        raise
    raise RuntimeError(f"task {name} returned; it must run until cancelled")


def asterisk_group(root: Path, user: str | None) -> int | None:
    """The group Asterisk reads its config as: the run user's primary group in Asterisk's root
    (the lab's chroot tree), or ours when Asterisk runs as we do (the image)."""
    if user is None:
        return os.getgid()
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields and fields[0] == user:
            return int(fields[3])
    raise StartupFailure(f"user {user!r} not found in {root / 'etc' / 'passwd'}")


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        paths = settings.asterisk
        self.registry = CollectorRegistry()
        self.board = StatusBoard()
        self.heartbeat = Heartbeat()
        self.reaper = Reaper()
        self.stop_requested = asyncio.Event()
        self.force_stop = asyncio.Event()
        self.draining = False
        self.booted = asyncio.Event()
        self.started_at = time.monotonic()
        self.ready_since: float | None = None
        ami_secret = secrets.token_hex(24)  # per boot; never logged, never leaves the pod
        self.context = RenderContext(
            ami_secret=ami_secret,
            ami_port=settings.ami_port,
            directories=Directories(
                astetcdir=str(paths.etc),
                astrundir=str(paths.run),
                astlogdir=str(paths.log),
                astspooldir=str(paths.spool),
                astvarlibdir=str(paths.lib),
                astdbdir=str(paths.db),
            ),
            run_user=settings.asterisk_user,
        )
        self.state = AsteriskState()
        # Call quality: RTPAUDIOQOS VarSet events + the state's ended calls (direction, trunk).
        self.quality = CallQuality(trunks=lambda: self.state.trunks.values())
        self.state.call_observers.append(self.quality.call_ended)
        self.ami = AmiClient(
            settings=AmiSettings(
                username=self.context.ami_username, secret=ami_secret, port=settings.ami_port
            ),
            state=self.state,
        )
        AsteriskCollector.register(self.registry, self.state)
        # Bans live on the spool's volume (the PersistentVolumeClaim in the Deployment): they
        # survive restarts of Asterisk, of the supervisor and of the pod.
        self.security = SecurityGuard(
            registry=self.registry,
            store=BanStore(paths.host(paths.spool) / "supervisor" / "bans.json"),
        )
        for name in security_events.SUBSCRIBED:
            self.ami.subscribe(name, self.security.on_event)
        self.ami.subscribe("VarSet", self.quality.varset)
        QualityCollector.register(self.registry, self.quality)
        self.mailboxes = MailboxCounts()
        VoicemailCollector.register(self.registry, self.mailboxes)
        self.mailbox_poller = MailboxPoller(ami=self.ami, counts=self.mailboxes, booted=self.booted)
        for event in ("FullyBooted", "Reload", "MessageWaiting"):
            self.ami.subscribe(event, self.mailbox_poller.hint)
        # Which certificate each tls transport really serves (a handshake after every apply).
        self.served = ServedCertificates(registry=self.registry)
        self.applier = Applier(
            config_mounts=settings.config_dirs,
            secret_mounts=settings.secret_dirs,
            config_dir=ConfigDir(
                paths.host(paths.etc), gid=asterisk_group(paths.root, settings.asterisk_user)
            ),
            load=load_site,
            render=lambda loaded: render(
                loaded, self.context, self.security.blocked(policy_settings(loaded.site))
            ),
            ami=self.ami,
            metrics=ReloadMetrics(self.registry),
            restart_check=lambda old, new: restart_required(old.site, new.site),
            on_restart_required=self._restart_required,
            on_applied=self._site_applied,
            module_map=MODULE_OF_FILE,
        )
        self.monitor: AddressMonitor | None = None
        self.asterisk: AsteriskSupervisor | None = None
        self.restart_reasons: tuple[str, ...] = ()
        self._restart_wakeup = asyncio.Event()
        self.up = Gauge(
            "asterisk_supervisor_asterisk_up",
            "Asterisk's process is running.",
            registry=self.registry,
        )
        self.crashes = Counter(
            "asterisk_supervisor_asterisk_restarts",
            "Asterisk restarts after a crash (the pod's restarts not included).",
            registry=self.registry,
        )
        self.ready_gauge = Gauge(
            "asterisk_supervisor_ready", "The supervisor reports ready.", registry=self.registry
        )
        self.ready_gauge.set_function(lambda: 1.0 if self.board.ready() else 0.0)
        self.draining_gauge = Gauge(
            "asterisk_supervisor_draining",
            "Shutting down: new calls refused, active calls finishing.",
            registry=self.registry,
        )
        self.draining_gauge.set_function(lambda: 1.0 if self.draining else 0.0)
        self._ami_checks = ami_checks(self.ami)
        self.board.add(self._checks)
        self.board.add(self.security.checks)
        self.board.add(self.served.checks)
        self.board.add_section("security", self.security.status)
        self.board.add_section("call_quality", self.quality.status)

    def _site_applied(self, loaded: LoadedSite) -> None:
        # Call direction and the trunk label follow the live site's trunks; the ban policy
        # (thresholds, never-blocked sources) follows its `security` section.
        self.state.set_trunks({n: n for n in loaded.site.trunks})
        self.security.configure(policy_settings(loaded.site))
        # The voicemail metrics follow its boxes.
        self.mailboxes.set_boxes(
            {name: mailbox(number) for name, number in loaded.site.mailboxes().items()}
        )
        self.mailbox_poller.hint()
        self.served.expect(loaded)

    # -- status --------------------------------------------------------------------------------

    def _checks(self) -> list[Check]:
        checks = [
            Check(
                name="draining",
                ok=not self.draining,
                detail="shutting down: new calls are refused" if self.draining else "no",
            )
        ]
        reload_state = self.applier.state
        detail = f"live {reload_state.live_hash[:12]}" if reload_state.live_hash else "none yet"
        if reload_state.last_error:
            detail += f"; last change rejected: {reload_state.last_error}"
        if reload_state.restart_required:
            detail += "; restart required: " + "; ".join(reload_state.restart_required)
        checks.append(Check(name="config", ok=reload_state.config_live, detail=detail))
        if self.settings.mode is Mode.ENTRYPOINT:
            running = self.asterisk is not None and self.asterisk.running
            checks.append(
                Check(
                    name="asterisk process",
                    ok=running,
                    detail="running" if running else "not running",
                )
            )
        if self.monitor is not None:
            checks.extend(self.monitor.checks())
        for check in self._ami_checks():
            if self.settings.require_registered and check.name.startswith("trunk registration"):
                check = dataclasses.replace(check, gates_readiness=True)
            checks.append(check)
        return checks

    # -- life cycle ----------------------------------------------------------------------------

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()

        def on_terminate(signame: str) -> None:
            if self.stop_requested.is_set():
                log.warning("%s again: stopping at once", signame)
                self.force_stop.set()
            else:
                log.info("%s: draining, then stopping", signame)
                self.stop_requested.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_terminate, sig.name)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._reloader_hint())

    _reloader: Reloader | None = None

    def _reloader_hint(self) -> None:
        # SIGHUP: re-read the mounts now (the usual meaning of SIGHUP for a daemon).
        if self._reloader is not None:
            self._reloader.hint()

    def _load_initial(self) -> LoadedSite:
        try:
            return load_site_dirs(self.settings.config_dirs, self.settings.secret_dirs)
        except SiteInvalid as exc:
            for problem in exc.problems:
                log.error("%s", problem)
            raise StartupFailure(
                f"the site description is invalid ({len(exc.problems)} problem(s) above); "
                "there is no last good config to run yet"
            ) from None

    async def run(self) -> int:
        self._install_signals()
        become_subreaper()
        app = http.make_app(self.registry)
        add_health_routes(app, self.board, self.heartbeat)
        runner = await http.start(app, self.settings.http_host, self.settings.http_port)
        log.info(
            "HTTP on [%s]:%d: /healthz /readyz /status /metrics",
            self.settings.http_host,
            self.settings.http_port,
        )
        code = EXIT_OK
        try:
            async with asyncio.TaskGroup() as tg:
                for name, coro in (
                    ("heartbeat", self.heartbeat.run()),
                    ("reaper", self.reaper.run()),
                    ("lifecycle", self._lifecycle(tg)),
                    ("shutdown", self._shutdown()),
                ):
                    tg.create_task(guard(name, coro), name=name)
        except* _Stopped:
            pass
        except* StartupFailure as failures:
            for failure in failures.exceptions:
                log.error("start-up failed: %s", failure)
            code = EXIT_STARTUP
        except* CrashLoop as crashes:
            for crash in crashes.exceptions:
                log.error("%s", crash)
            code = EXIT_CRASH_LOOP
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(runner.cleanup())
        return code

    async def _lifecycle(self, tg: asyncio.TaskGroup) -> NoReturn:
        settings = self.settings
        loaded = self._load_initial()
        override = tuple(ExpectedAddress.parse(a) for a in settings.expect_addresses)
        expected, trunks = expected_from_site(loaded.site, override)
        try:
            self.applier.prepare()
        except StartupError as exc:
            raise StartupFailure(str(exc)) from None
        if settings.mode is Mode.SIDECAR:
            await self._sidecar_manager_reload()
        else:
            self._check_persistent()
        self.monitor = AddressMonitor(
            expected=expected,
            trunks=trunks,
            registry=self.registry,
            on_recovered=self._addresses_recovered,
        )
        tg.create_task(guard("addresses", self.monitor.run()), name="addresses")
        await self._wait_addresses()
        log.info("required addresses usable after %.2f s", time.monotonic() - self.started_at)
        tg.create_task(guard("ami", self.ami.run()), name="ami")
        if settings.mode is Mode.ENTRYPOINT:
            self.asterisk = AsteriskSupervisor(
                argv=settings.asterisk.argv(),
                reaper=self.reaper,
                policy=settings.restart,
                on_start=self._asterisk_started,
                on_exit=self._asterisk_exited,
                on_crash=lambda _code: self.crashes.inc(),
                # A restart too: Asterisk drops a transport whose address is not bindable.
                before_start=self._wait_addresses,
            )
            tg.create_task(guard("asterisk", self.asterisk.run()), name="asterisk")
            tg.create_task(
                guard("restart-when-idle", self._restart_when_idle()), name="restart-when-idle"
            )
        self._reloader = Reloader(
            applier=self.applier,
            booted=self.booted,
            debounce=settings.debounce_s,
            resync=settings.resync_s,
        )
        tg.create_task(guard("reload", self._reloader.run()), name="reload")
        tg.create_task(
            guard("security", self.security.run(apply=self.applier.refresh, ready=self.booted)),
            name="security",
        )
        tg.create_task(guard("voicemail", self.mailbox_poller.run()), name="voicemail")
        tg.create_task(guard("tls-served", self.served.run(ready=self.booted)), name="tls-served")
        while True:
            await self._track_boot()

    async def _sidecar_manager_reload(self) -> None:
        """In sidecar mode Asterisk may outlive us: make it read the AMI secret of this boot
        (over the shared control socket; no Asterisk yet is fine, it will read it at start)."""
        argv = self.settings.asterisk.remote_argv("manager reload")
        try:
            status = await run_command(argv, self.reaper)
        except (OSError, TimeoutError) as exc:
            log.info("manager reload in the running Asterisk not possible: %s", exc)
            return
        if status == 0:
            log.info("the running Asterisk reloaded its manager config (this boot's AMI secret)")

    def _check_persistent(self) -> None:
        """Refuse to start an Asterisk that would lose voicemail and astdb (storage.py)."""
        paths = self.settings.asterisk
        user = self.settings.asterisk_user
        try:
            run_user = RunUser.current() if user is None else RunUser.from_root(paths.root, user)
            check_persistent([(paths.host(p), str(p)) for p in paths.persistent], run_user)
        except PersistenceError as exc:
            raise StartupFailure(str(exc)) from None

    async def _wait_addresses(self) -> None:
        """Gate: every required address usable (present, not tentative, bindable)."""
        assert self.monitor is not None
        if self.monitor.report is not None and not self.monitor.all_required_usable:
            missing = "; ".join(
                f"{c.name}: {c.detail}"
                for c in self.monitor.checks()
                if c.gates_readiness and not c.ok
            )
            log.warning(
                "not starting Asterisk until the required addresses are usable (%s)", missing
            )
        try:
            await self.monitor.wait_usable(self.settings.address_timeout_s)
        except AddressesNotUsable as exc:
            raise StartupFailure(str(exc)) from None

    async def _track_boot(self) -> None:
        """One Asterisk life as AMI sees it: FullyBooted → config live → until the session ends."""
        await self.ami.fully_booted.wait()
        if not self.booted.is_set():
            self.applier.asterisk_started()
            self.booted.set()
            if self.ready_since is None:
                self.ready_since = time.monotonic()
                log.info(
                    "Asterisk fully booted; ready %.2f s after start",
                    self.ready_since - self.started_at,
                )
            else:
                log.info("Asterisk fully booted again")
        # The client exposes "booted" as a level, not an edge: poll its fall cheaply.
        while self.ami.fully_booted.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        self.booted.clear()

    def _asterisk_started(self, _process: AsteriskProcess) -> None:
        self.up.set(1)

    def _asterisk_exited(self, _code: int) -> None:
        self.up.set(0)
        self.booted.clear()
        self.mailbox_poller.hint()  # its counts are unknown until Asterisk is back
        self.ami.close()  # the session is dead; reconnect to the next Asterisk without waiting

    # -- restarts for changes Asterisk cannot reload --------------------------------------------

    def _restart_required(self, reasons: tuple[str, ...]) -> None:
        self.restart_reasons = reasons
        if reasons:
            log.warning("restart required to apply: %s", "; ".join(reasons))
            self._restart_wakeup.set()

    async def _restart_when_idle(self) -> NoReturn:
        """Restart Asterisk at the first moment with no active calls, or at the deadline."""
        while True:
            await self._restart_wakeup.wait()
            self._restart_wakeup.clear()
            deadline = time.monotonic() + self.settings.restart_deadline_s
            while self.restart_reasons and not self.draining:
                idle = not self.state.calls and not self.state.channels
                if idle or time.monotonic() >= deadline:
                    log.info(
                        "restarting Asterisk now (%s)",
                        "no active calls" if idle else "restart deadline reached",
                    )
                    assert self.asterisk is not None
                    self.asterisk.request_restart()
                    self.restart_reasons = ()
                    break
                await asyncio.sleep(1.0)

    async def _addresses_recovered(self, recovered: tuple[ExpectedAddress, ...]) -> None:
        """Asterisk drops a transport whose bind failed and never retries; a res_pjsip reload
        recreates it once the address is usable again."""
        names = ", ".join(str(a.address) for a in recovered)
        if not self.booted.is_set():
            return
        log.info("address(es) %s usable again: reloading res_pjsip to restore transports", names)
        try:
            await self.ami.action({"Action": "Reload", "Module": "res_pjsip.so"}, timeout=10)
        except AmiError as exc:
            log.warning("res_pjsip reload after address recovery failed: %s", exc)

    # -- shutdown ------------------------------------------------------------------------------

    async def _shutdown(self) -> NoReturn:
        await self.stop_requested.wait()
        self.draining = True
        log.info("not ready: draining")
        process = self.asterisk.current if self.asterisk is not None else None
        if self.asterisk is not None and process is not None:
            self.asterisk.stopping = True
            code = await drain(
                process,
                stop_gracefully=self.settings.asterisk.remote_argv("core stop gracefully"),
                reaper=self.reaper,
                deadline_s=self.settings.drain_timeout_s,
                force=self.force_stop,
                grace_s=self.settings.stop_grace_s,
            )
            log.info("Asterisk stopped (%s)", code)
        asyncio.get_running_loop().call_later(5.0, self._report_stuck_tasks)
        raise _Stopped

    def _report_stuck_tasks(self) -> None:
        """Cancellation should end every task at once; name any that does not."""
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                frames = task.get_stack(limit=8)
                where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames)
                log.error("shutdown: task %s still running at %s", task.get_name(), where)


async def _main(settings: Settings) -> int:
    return await Supervisor(settings).run()


def main(settings: Settings) -> int:
    # No `_created` series: they double the exposition and no dashboard or alert reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    logs.configure(settings.log_format, settings.log_level)
    log.info("asterisk-supervisor starting (%s mode)", settings.mode.value)
    return asyncio.run(_main(settings))
