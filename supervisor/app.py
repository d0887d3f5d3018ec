"""The composition root: the only module that knows every part. It builds and wires; the policy
lives in the parts (each a named, unit-tested component), the life cycle in `runner.py`.

`build(settings)` creates every part up front, one slice at a time, each slice from the ones
before it (no part names one built later): the core (registry, status board, reaper, the live
config), AMI, addresses, security and TLS, the process (entrypoint mode), reload, then what HTTP
reads. The initial config is loaded, rendered and written last and published to every part that
subscribed to the live config; an invalid site falls back on the last good config kept on the
volume, and is fatal only without one (first boot).

Adding a component: construct it in the slice it belongs to (or a new slice builder returning a
frozen dataclass), subscribe it to `core.live` if it follows the applied site, add its checks to
`build_status`, and its `Task` to the slice's `tasks` (from the start) or `gated` (once the
pod's addresses are usable). CONTRIBUTING.md ("Following the live config") says more.
"""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from supervisor.addresses.model import ExpectedAddress
from supervisor.addresses.monitor import AddressMonitor
from supervisor.addresses.recovery import AddressRecovery
from supervisor.ami.checks import ami_checks
from supervisor.ami.client import AmiClient, AmiSettings
from supervisor.ami.features import PhoneFeatureReader
from supervisor.ami.follow import FollowProcess
from supervisor.ami.quality import CallQuality
from supervisor.ami.state import AsteriskState
from supervisor.ami.types import AmiActions
from supervisor.live import LiveConfig
from supervisor.mail.delivery import MailDelivery
from supervisor.mail.metrics import MailMetrics
from supervisor.mail.queue import MailQueue
from supervisor.metrics.asterisk import AsteriskCollector
from supervisor.metrics.quality import QualityCollector
from supervisor.metrics.supervisor import SupervisorCollector
from supervisor.metrics.voicemail import MailboxCounts, MailboxPoller, VoicemailCollector
from supervisor.process.asterisk import AsteriskSupervisor
from supervisor.process.boots import BootLog
from supervisor.process.gcwatch import PauseMetrics
from supervisor.process.hang import AmiPing, ControlSocketProbe, HangPolicy, HangWatchdog
from supervisor.process.idle_restart import RestartWhenIdle
from supervisor.process.malloc import HeapTrimmer
from supervisor.process.reaper import Reaper
from supervisor.process.shutdown import Shutdown
from supervisor.records import schema as record_schema
from supervisor.records.recorder import FOLD_EVERY_S, LOST_AFTER_S, Recorder
from supervisor.records.store import RecordError, RecordStore
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
from supervisor.reload.build import Blocked
from supervisor.reload.checks import config_checks
from supervisor.reload.lastgood import LastGood
from supervisor.reload.restart import PendingRestart
from supervisor.render import RenderContext
from supervisor.security import events as security_events
from supervisor.security.fromsite import policy_settings
from supervisor.security.guard import SecurityGuard
from supervisor.security.store import BanStore
from supervisor.settings import Mode, Settings
from supervisor.site.model import Site
from supervisor.status import Heartbeat, StatusBoard
from supervisor.storage import PersistenceError, RunUser, check_persistent
from supervisor.tasks import Task
from supervisor.tls.providers import ProviderCertificates
from supervisor.tls.served import ServedCertificates


@dataclass(frozen=True)
class Core:
    """What every slice shares. `live`: the applied config, published by the applier to every
    part that subscribed; `pending_restart`: why the live config waits for an Asterisk restart."""

    settings: Settings
    started_at: float
    registry: CollectorRegistry
    board: StatusBoard
    reaper: Reaper
    context: RenderContext
    run_user: RunUser
    live: LiveConfig[Config]
    pending_restart: PendingRestart


def build_core(settings: Settings) -> Core:
    paths, user = settings.asterisk, settings.asterisk_user
    return Core(
        settings=settings,
        started_at=time.monotonic(),
        registry=CollectorRegistry(),
        board=StatusBoard(),
        reaper=Reaper(),
        context=settings.render_context(secrets.token_hex(24)),  # per boot; never logged
        run_user=RunUser.current() if user is None else RunUser.from_root(paths.root, user),
        live=LiveConfig(),
        pending_restart=PendingRestart(),
    )


@dataclass(frozen=True)
class AmiSlice:
    """The AMI session and what its events feed: Asterisk's state, call quality, mailboxes,
    the phones' do-not-disturb and forwards."""

    client: AmiClient
    state: AsteriskState
    quality: CallQuality
    mailboxes: MailboxPoller
    features: PhoneFeatureReader
    gated: tuple[Task, ...]


def build_ami(core: Core, login: AmiSettings | None = None) -> AmiSlice:
    """`login`: this boot's AMI user by default; a lab harness or a benchmark passes its own
    (user, port, timings) and gets the product's wiring otherwise."""
    context = core.context
    state = AsteriskState()
    client = AmiClient(
        settings=login
        or AmiSettings(
            username=context.ami_username, secret=context.ami_secret, port=context.ami_port
        ),
        state=state,
    )
    quality = CallQuality(trunks=state.calls.trunk_names)  # RTPAUDIOQOS + ended calls
    state.calls.observers.append(quality.call_ended)
    client.subscribe("VarSet", quality.varset)
    mailboxes = MailboxCounts()
    poller = MailboxPoller(ami=client, counts=mailboxes, booted=client.fully_booted)
    for event in ("FullyBooted", "Reload", "MessageWaiting"):
        client.subscribe(event, poller.hint)
    core.live.subscribe(state.calls)  # trunk labels
    core.live.subscribe(poller)  # the site's mailboxes
    features = PhoneFeatureReader(ami=client, booted=client.fully_booted)
    for event in ("FullyBooted", "Reload"):
        client.subscribe(event, features.hint)
    core.live.subscribe(features)  # the site's featured phones
    client.on_boot(BootLog(core.started_at))
    QualityCollector.register(core.registry, quality)
    VoicemailCollector.register(core.registry, mailboxes)
    return AmiSlice(
        client=client,
        state=state,
        quality=quality,
        mailboxes=poller,
        features=features,
        gated=(
            Task("ami", client.run),
            Task("voicemail", poller.run),
            Task("phone-features", features.run),
        ),
    )


@dataclass(frozen=True)
class RecordsSlice:
    """The durable call record (docs/records.md): what Asterisk's CEL wrote, folded into the
    call history and counted once per call (`asterisk_supervisor_calls_total`)."""

    recorder: Recorder
    gated: tuple[Task, ...]


def record_store(core: Core) -> RecordStore:
    """The record's SQLite file on the spool volume (where cel_sqlite3_custom writes)."""
    paths = core.settings.asterisk
    return RecordStore(paths.host(paths.spool) / record_schema.RELATIVE_PATH)


def build_records(
    core: Core, ami: AmiSlice, *, interval_s: float = FOLD_EVERY_S, stale_s: float = LOST_AFTER_S
) -> RecordsSlice:
    """`interval_s`, `stale_s`: the recorder's timing (recorder.py); a lab harness shortens
    them, the product keeps the defaults."""
    state = ami.state

    def live() -> frozenset[str] | None:
        # Asterisk's calls now, when AMI has a synced view of them (else nothing is lost).
        return frozenset(state.calls.active) if state.live else None

    recorder = Recorder(store=record_store(core), live=live, interval_s=interval_s, stale_s=stale_s)
    core.live.subscribe(recorder)  # trunk names
    ami.client.on_boot(recorder.hint)
    ami.client.subscribe("Hangup", recorder.hint)
    AsteriskCollector.register(core.registry, state, calls_total=lambda: recorder.counts)
    core.board.add_section("records", recorder.status)
    return RecordsSlice(recorder=recorder, gated=(Task("records", recorder.run),))


def create_record(core: Core, store: RecordStore) -> None:
    """The record's file and tables, before Asterisk opens it (owned by Asterisk's user when
    we run as root: SQLite gives its journal files the database file's owner)."""
    user = core.run_user
    owner = (user.uid, user.gid) if core.settings.asterisk_user is not None else None
    try:
        store.create(owner)
    except (OSError, RecordError) as exc:
        raise PersistenceError(f"the call record cannot be kept: {exc}") from exc


@dataclass(frozen=True)
class MailSlice:
    """Voicemail by e-mail (docs/mail.md): the queue app_voicemail fills, delivered through the
    live site's SMTP relay."""

    delivery: MailDelivery
    gated: tuple[Task, ...]


def build_mail(core: Core) -> MailSlice:
    paths = core.settings.asterisk
    delivery = MailDelivery(
        queue=MailQueue(paths.host(paths.mail_queue)), metrics=MailMetrics(core.registry)
    )
    core.live.subscribe(delivery)  # the relay, its credentials and the boxes' addresses
    core.board.add_section("mail", delivery.status)
    return MailSlice(delivery=delivery, gated=(Task("mail", delivery.run),))


def create_mail_queue(core: Core, mail: MailSlice) -> None:
    """The queue directory, before Asterisk writes to it (owned by Asterisk's user when we run
    as root)."""
    user = core.run_user
    owner = (user.uid, user.gid) if core.settings.asterisk_user is not None else None
    try:
        mail.delivery.queue.create(owner)
    except OSError as exc:
        raise PersistenceError(f"the voicemail e-mail queue cannot be kept: {exc}") from exc


@dataclass(frozen=True)
class AddressSlice:
    """The pod's expected addresses and trunk egress, following the live config."""

    monitor: AddressMonitor
    tasks: tuple[Task, ...]


def build_addresses(core: Core, ami: AmiSlice) -> AddressSlice:
    override = tuple(ExpectedAddress.parse(a) for a in core.settings.expect_addresses)
    recovery = AddressRecovery(
        asterisk=AmiReload(ami.client), booted=ami.client.fully_booted.is_set
    )
    monitor = AddressMonitor(override=override, registry=core.registry, on_recovered=recovery)
    core.live.subscribe(monitor)
    return AddressSlice(monitor=monitor, tasks=(Task("addresses", monitor.run),))


@dataclass(frozen=True)
class SecuritySlice:
    """Bans from Asterisk's security events, and the TLS certificates served and trusted."""

    guard: SecurityGuard
    served: ServedCertificates
    providers: ProviderCertificates


def build_security(core: Core, ami: AmiSlice) -> SecuritySlice:
    paths = core.settings.asterisk
    # Bans live on the spool's volume (the PersistentVolumeClaim in the Deployment): they
    # survive restarts of Asterisk, of the supervisor and of the pod.
    guard = SecurityGuard(
        registry=core.registry,
        store=BanStore(paths.host(paths.spool) / "supervisor" / "bans.json"),
        # Registered contacts (their addresses, rewrite_contact) are never banned by forged
        # UDP failures, even before a phone's next login after a restart of the supervisor.
        contacts=lambda: (uri for _aor, uri in ami.state.peers.contacts),
    )
    for name in security_events.SUBSCRIBED:
        ami.client.subscribe(name, guard.on_event)
    # Which certificate each tls transport really serves (a handshake after every apply).
    served = ServedCertificates(
        registry=core.registry, awaiting_restart=core.pending_restart.reasons
    )
    # Whether the providers reached over TLS present certificates Asterisk will trust.
    providers = ProviderCertificates()
    for part in (guard, served, providers):
        core.live.subscribe(part)
    return SecuritySlice(guard=guard, served=served, providers=providers)


@dataclass(frozen=True)
class ProcessSlice:
    """Asterisk as a child (entrypoint mode only: `asterisk` is None in sidecar mode) and the
    one shutdown path."""

    asterisk: AsteriskSupervisor | None
    shutdown: Shutdown
    gated: tuple[Task, ...]
    tasks: tuple[Task, ...]


def build_process(
    core: Core, ami: AmiSlice, addresses: AddressSlice, security: SecuritySlice
) -> ProcessSlice:
    settings, paths, reaper = core.settings, core.settings.asterisk, core.reaper
    if settings.mode is not Mode.ENTRYPOINT:
        shutdown = _shutdown(core, None)
        return ProcessSlice(
            asterisk=None,
            shutdown=shutdown,
            gated=(),
            tasks=(Task("shutdown", shutdown.run), *_memory_tasks(core)),
        )
    follow = FollowProcess(ami.client, forget=(ami.mailboxes.hint,))
    asterisk = AsteriskSupervisor(
        argv=paths.argv(),
        reaper=reaper,
        policy=settings.restart,
        on_start=follow.started,
        on_exit=follow.exited,
        # Gate restarts too: Asterisk drops a transport whose address is not bindable.
        before_start=functools.partial(addresses.monitor.gate, settings.address_timeout_s),
        # Per-request lines (ACL refusals, failed requests) counted before they cost a record.
        screen=security.guard.screen,
    )
    hang = HangWatchdog(
        policy=HangPolicy(timeout_s=settings.hang_timeout_s),
        probes=[
            AmiPing(ami.client),
            ControlSocketProbe(paths.remote_argv("core show uptime"), reaper),
        ],
        registry=core.registry,
    )
    shutdown = _shutdown(core, asterisk)
    restarter = RestartWhenIdle(
        pending=core.pending_restart.reasons,
        busy=ami.state.calls.busy,
        restart=asterisk.request_restart,
        deadline_s=settings.restart_deadline_s,
        stopping=shutdown.is_draining,
        startable=addresses.monitor.usable,
    )
    core.pending_restart.subscribe(restarter.wake)
    return ProcessSlice(
        asterisk=asterisk,
        shutdown=shutdown,
        gated=(
            Task("asterisk", asterisk.run),
            Task("restart-when-idle", restarter.run),
            Task("hang-watchdog", functools.partial(hang.run, asterisk.current_process)),
        ),
        tasks=(Task("shutdown", shutdown.run), *_memory_tasks(core)),
    )


def _memory_tasks(core: Core) -> tuple[Task, ...]:
    pauses = PauseMetrics(core.registry)
    trimmer = HeapTrimmer(observe_trim=pauses.trims.observe)
    core.live.subscribe(trimmer)
    return (Task("heap-trim", trimmer.run), Task("gc-pauses", pauses.run))


def _shutdown(core: Core, asterisk: AsteriskSupervisor | None) -> Shutdown:
    settings = core.settings
    return Shutdown(
        asterisk=asterisk,
        reaper=core.reaper,
        stop_gracefully=settings.asterisk.remote_argv("core stop gracefully"),
        deadline_s=settings.drain_timeout_s,
        grace_s=settings.stop_grace_s,
    )


@dataclass(frozen=True)
class ReloadSlice:
    """Mounts -> config -> Asterisk: the applier (publishing to `core.live`) and its loop."""

    applier: Applier
    reloader: Reloader
    gated: tuple[Task, ...]


def build_applier(
    core: Core,
    asterisk: AmiActions,
    blocked: Blocked = lambda _site: (),
    *,
    factory: type[Applier] = Applier,
) -> Applier:
    """Mounts -> config -> Asterisk over `asterisk`, any AMI seam (the product's client; a lab
    harness's client on another loop, or none before Asterisk starts); `blocked`: the addresses
    the rendered config denies (the security guard's). It publishes each config it made live to
    `core.live`, restart reasons to `core.pending_restart`, its metrics on `core.registry`.
    `factory`: a benchmark's instrumented subclass."""
    settings, paths = core.settings, core.settings.asterisk
    return factory(
        mounts=Mounts(config=settings.config_dirs, secrets=settings.secret_dirs),
        config_dir=ConfigDir(paths.host(paths.etc), gid=core.run_user.gid),
        build=SiteConfigBuilder(core.context, blocked),
        asterisk=AmiReload(asterisk),
        metrics=ReloadMetrics(core.registry),
        on_restart_required=core.pending_restart.set,
        on_applied=core.live.publish,
        # On the spool's volume, like the bans: a pod restarted with an invalid ConfigMap (or a
        # new supervisor beside a running Asterisk) starts on the config that was last live.
        last_good=LastGood(paths.host(paths.spool) / "supervisor" / "last-good.json"),
    )


def build_reload(core: Core, ami: AmiSlice, security: SecuritySlice) -> ReloadSlice:
    settings, guard = core.settings, security.guard

    def blocked(site: Site) -> tuple[security_events.IPNetwork, ...]:
        return guard.blocked(policy_settings(site))

    applier = build_applier(core, ami.client, blocked)
    reloader = Reloader(
        applier=applier,
        booted=ami.client.fully_booted,
        debounce=settings.debounce_s,
        resync=settings.resync_s,
    )
    ami.client.on_boot(applier.asterisk_started)
    booted = ami.client.fully_booted
    return ReloadSlice(
        applier=applier,
        reloader=reloader,
        gated=(
            Task("reload", reloader.run),
            Task("security", functools.partial(guard.run, apply=applier.refresh, ready=booted)),
            Task("tls-served", functools.partial(security.served.run, ready=booted)),
            Task("tls-providers", functools.partial(security.providers.run, ready=booted)),
        ),
    )


def build_status(
    core: Core,
    ami: AmiSlice,
    addresses: AddressSlice,
    security: SecuritySlice,
    process: ProcessSlice,
    reload: ReloadSlice,
) -> None:
    """What HTTP reads: every part's checks on the board (in this order), its sections, and the
    supervisor's own metrics."""
    board, asterisk, shutdown = core.board, process.asterisk, process.shutdown
    board.add(shutdown.checks, config_checks(lambda: reload.applier.state))
    board.add(*([asterisk.checks] if asterisk is not None else []), addresses.monitor.checks)
    board.add(ami_checks(ami.client, require_registered=core.settings.require_registered))
    board.add(security.guard.checks, security.served.checks, security.providers.checks)
    board.add_section("security", security.guard.status)
    board.add_section("call_quality", ami.quality.status)
    board.add_section("phone_features", ami.features.status)
    core.registry.register(
        SupervisorCollector(asterisk=asterisk, ready=board.ready, draining=shutdown.is_draining)
    )


@dataclass(frozen=True)
class Parts:
    """Every slice, built up front; the tasks the runner starts (`gated_tasks` once the pod's
    required addresses are usable)."""

    core: Core
    ami: AmiSlice
    addresses: AddressSlice
    security: SecuritySlice
    process: ProcessSlice
    reload: ReloadSlice
    records: RecordsSlice
    mail: MailSlice
    heartbeat: Heartbeat
    tasks: tuple[Task, ...]
    gated_tasks: tuple[Task, ...]

    @property
    def settings(self) -> Settings:
        return self.core.settings


def build(settings: Settings) -> Parts:
    """Every part, wired; the initial config written. Raises one of runner.STARTUP_ERRORS."""
    core = build_core(settings)
    ami = build_ami(core)
    records = build_records(core, ami)
    mail = build_mail(core)
    addresses = build_addresses(core, ami)
    security = build_security(core, ami)
    process = build_process(core, ami, addresses, security)
    reload = build_reload(core, ami, security)
    build_status(core, ami, addresses, security, process, reload)
    reload.applier.prepare()  # publishes the initial config to every subscriber
    if process.asterisk is not None:  # refuse an Asterisk that would lose voicemail and astdb
        paths = settings.asterisk
        check_persistent([(paths.host(p), str(p)) for p in paths.persistent], core.run_user)
    create_record(core, records.recorder.store)
    create_mail_queue(core, mail)
    heartbeat = Heartbeat()
    return Parts(
        core=core,
        ami=ami,
        addresses=addresses,
        security=security,
        process=process,
        reload=reload,
        records=records,
        mail=mail,
        heartbeat=heartbeat,
        tasks=(
            Task("heartbeat", heartbeat.run),
            Task("reaper", core.reaper.run),
            *process.tasks,
            *addresses.tasks,
        ),
        gated_tasks=(*ami.gated, *process.gated, *reload.gated, *records.gated, *mail.gated),
    )
