"""The composition root: the only module that knows every part. It builds and wires; the policy
lives in the parts (each a named, unit-tested component), the life cycle in `runner.py`.

`build(settings)` creates every part up front: the initial config is loaded, rendered and
written (fatal when invalid: there is no last good config yet), each part's checks go on the
status board and its metrics on the registry, and its long-running task into `Parts.tasks` (from
the start) or `Parts.gated_tasks` (once the pod's required addresses are usable).

Adding a component: construct it in `build()`, wire its inputs (AMI subscriptions, the applied
site), add its checks and metrics, append its `Task`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from supervisor.addresses.fromsite import expected_from_site
from supervisor.addresses.model import ExpectedAddress
from supervisor.addresses.monitor import AddressMonitor
from supervisor.addresses.recovery import AddressRecovery
from supervisor.ami.checks import ami_checks
from supervisor.ami.client import AmiClient, AmiSettings
from supervisor.ami.quality import CallQuality
from supervisor.ami.state import AsteriskState
from supervisor.metrics.asterisk import AsteriskCollector
from supervisor.metrics.quality import QualityCollector
from supervisor.metrics.supervisor import SupervisorCollector
from supervisor.metrics.voicemail import MailboxCounts, MailboxPoller, VoicemailCollector
from supervisor.process.asterisk import AsteriskSupervisor
from supervisor.process.boots import BootLog
from supervisor.process.hang import AmiPing, ControlSocketProbe, HangPolicy, HangWatchdog
from supervisor.process.idle_restart import RestartWhenIdle
from supervisor.process.reaper import Reaper
from supervisor.process.shutdown import Shutdown
from supervisor.reload import (
    AmiReload,
    Applier,
    Config,
    ConfigDir,
    Mounts,
    Reloader,
    ReloadMetrics,
    SiteConfigBuilder,
)
from supervisor.reload.checks import config_checks
from supervisor.reload.providers import ProviderCertificates
from supervisor.reload.served import ServedCertificates
from supervisor.render.voicemail import mailbox
from supervisor.security import events as security_events
from supervisor.security.fromsite import policy_settings
from supervisor.security.guard import SecurityGuard
from supervisor.security.store import BanStore
from supervisor.settings import Mode, Settings
from supervisor.status import Heartbeat, StatusBoard
from supervisor.storage import RunUser, check_persistent
from supervisor.tasks import Task


@dataclass(kw_only=True)
class Parts:
    """Every part, built up front. `asterisk` and `restarter` exist in entrypoint mode only."""

    settings: Settings
    started_at: float
    registry: CollectorRegistry
    board: StatusBoard
    reaper: Reaper
    ami: AmiClient
    applier: Applier
    reloader: Reloader
    monitor: AddressMonitor
    shutdown: Shutdown
    asterisk: AsteriskSupervisor | None
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    tasks: list[Task] = field(default_factory=list)
    gated_tasks: list[Task] = field(default_factory=list)


def build(settings: Settings) -> Parts:
    """Every part, wired; the initial config written. Raises one of runner.STARTUP_ERRORS."""
    started_at = time.monotonic()
    paths, registry, board, reaper = settings.asterisk, CollectorRegistry(), StatusBoard(), Reaper()
    user = settings.asterisk_user
    run_user = RunUser.current() if user is None else RunUser.from_root(paths.root, user)
    context = settings.render_context(secrets.token_hex(24))  # per boot; never logged
    state = AsteriskState()
    ami = AmiClient(
        settings=AmiSettings(
            username=context.ami_username, secret=context.ami_secret, port=context.ami_port
        ),
        state=state,
    )
    quality = CallQuality(trunks=lambda: state.trunks.values())  # RTPAUDIOQOS + ended calls
    state.call_observers.append(quality.call_ended)
    ami.subscribe("VarSet", quality.varset)
    mailboxes = MailboxCounts()
    poller = MailboxPoller(ami=ami, counts=mailboxes, booted=ami.fully_booted)
    for event in ("FullyBooted", "Reload", "MessageWaiting"):
        ami.subscribe(event, poller.hint)
    # Bans live on the spool's volume (the PersistentVolumeClaim in the Deployment): they
    # survive restarts of Asterisk, of the supervisor and of the pod.
    security = SecurityGuard(
        registry=registry, store=BanStore(paths.host(paths.spool) / "supervisor" / "bans.json")
    )
    # Which certificate each tls transport really serves (a handshake after every apply).
    served = ServedCertificates(
        registry=registry, awaiting_restart=lambda: applier.state.restart_required
    )
    # Whether the providers reached over TLS present certificates Asterisk will trust.
    providers = ProviderCertificates()
    for name in security_events.SUBSCRIBED:
        ami.subscribe(name, security.on_event)

    def asterisk_exited(_code: int) -> None:
        ami.close()  # the session is dead: reconnect to the next Asterisk without waiting
        poller.hint()  # the mailbox counts are unknown until Asterisk is back

    asterisk = restarter = None
    hang: HangWatchdog | None = None
    if settings.mode is Mode.ENTRYPOINT:
        asterisk = AsteriskSupervisor(
            argv=paths.argv(),
            reaper=reaper,
            policy=settings.restart,
            # A new Asterisk: log in at once, whatever backoff the old one's silence built up.
            on_start=lambda _process: ami.reconnect_now(),
            on_exit=asterisk_exited,
            # Gate restarts too: Asterisk drops a transport whose address is not bindable.
            before_start=lambda: monitor.gate(settings.address_timeout_s),
        )
        hang = HangWatchdog(
            policy=HangPolicy(timeout_s=settings.hang_timeout_s),
            probes=[
                AmiPing(ami),
                ControlSocketProbe(paths.remote_argv("core show uptime"), reaper),
            ],
            registry=registry,
        )
        restarter = RestartWhenIdle(
            pending=lambda: applier.state.restart_required,
            busy=lambda: bool(state.calls or state.channels),
            restart=asterisk.request_restart,
            deadline_s=settings.restart_deadline_s,
            stopping=lambda: shutdown.draining,
        )

    def config_applied(config: Config) -> None:
        # The trunk labels, the ban policy, the voicemail boxes and the certificates expected
        # to be served follow the live config.
        site = config.site
        state.set_trunks({n: n for n in site.trunks})
        security.configure(policy_settings(site))
        mailboxes.set_boxes({name: mailbox(number) for name, number in site.mailboxes().items()})
        poller.hint()
        served.expect(config.loaded)
        providers.expect(config.loaded)

    applier = Applier(
        mounts=Mounts(config=settings.config_dirs, secrets=settings.secret_dirs),
        config_dir=ConfigDir(paths.host(paths.etc), gid=run_user.gid),
        build=SiteConfigBuilder(context, lambda site: security.blocked(policy_settings(site))),
        asterisk=AmiReload(ami),
        metrics=ReloadMetrics(registry),
        on_restart_required=restarter.wake if restarter else lambda _reasons: None,
        on_applied=config_applied,
    )
    initial = applier.prepare()
    if asterisk is not None:  # refuse an Asterisk that would lose voicemail and astdb
        check_persistent([(paths.host(p), str(p)) for p in paths.persistent], run_user)
    override = tuple(ExpectedAddress.parse(a) for a in settings.expect_addresses)
    expected, trunks = expected_from_site(initial.site, override)
    recovery = AddressRecovery(asterisk=AmiReload(ami), booted=ami.fully_booted.is_set)
    monitor = AddressMonitor(
        expected=expected, trunks=trunks, registry=registry, on_recovered=recovery
    )
    shutdown = Shutdown(
        asterisk=asterisk,
        reaper=reaper,
        stop_gracefully=paths.remote_argv("core stop gracefully"),
        deadline_s=settings.drain_timeout_s,
        grace_s=settings.stop_grace_s,
    )
    reloader = Reloader(
        applier=applier,
        booted=ami.fully_booted,
        debounce=settings.debounce_s,
        resync=settings.resync_s,
    )
    ami.on_boot(applier.asterisk_started)
    ami.on_boot(BootLog(started_at))
    AsteriskCollector.register(registry, state)
    QualityCollector.register(registry, quality)
    VoicemailCollector.register(registry, mailboxes)
    registry.register(
        SupervisorCollector(
            asterisk=asterisk, ready=board.ready, draining=lambda: shutdown.draining
        )
    )
    board.add(shutdown.checks, config_checks(lambda: applier.state))
    board.add(*([asterisk.checks] if asterisk is not None else []), monitor.checks)
    board.add(ami_checks(ami, require_registered=settings.require_registered))
    board.add(security.checks, served.checks, providers.checks)
    board.add_section("security", security.status)
    board.add_section("call_quality", quality.status)
    parts = Parts(
        settings=settings,
        started_at=started_at,
        registry=registry,
        board=board,
        reaper=reaper,
        ami=ami,
        applier=applier,
        reloader=reloader,
        monitor=monitor,
        shutdown=shutdown,
        asterisk=asterisk,
    )
    parts.tasks += [
        Task("heartbeat", parts.heartbeat.run),
        Task("reaper", reaper.run),
        Task("shutdown", shutdown.run),
        Task("addresses", monitor.run),
    ]
    parts.gated_tasks.append(Task("ami", ami.run))
    if asterisk is not None and restarter is not None and hang is not None:
        running, watchdog = asterisk, hang
        parts.gated_tasks += [
            Task("asterisk", asterisk.run),
            Task("restart-when-idle", restarter.run),
            Task("hang-watchdog", lambda: watchdog.run(lambda: running.current)),
        ]
    parts.gated_tasks += [
        Task("reload", reloader.run),
        Task("security", lambda: security.run(apply=applier.refresh, ready=ami.fully_booted)),
        Task("voicemail", poller.run),
        Task("tls-served", lambda: served.run(ready=ami.fully_booted)),
        Task("tls-providers", lambda: providers.run(ready=ami.fully_booted)),
    ]
    return parts
