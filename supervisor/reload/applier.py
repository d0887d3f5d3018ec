"""One config apply: snapshot the mounts, build the config, plan, replace changed files
atomically, reload the planned modules, read back, and restore the previous files on failure.

The content hash of the mounts is recorded as live only after a verified reload, so a failed
apply is retried at the next hint or resync (thanos reloader semantics), and a fixed config
applies as soon as it arrives. Applies never overlap. What to write, reload, restart and
re-register is decided by `plan.plan` alone; the applier carries it out.

Every config made live is kept on the persistent volume (`lastgood.py`). At start-up an invalid
mounted site is then not fatal: the supervisor starts on the kept config, reports the mounted
site's problems as a rejected change (`/status`, `last_reload_successful` 0,
`config_last_good_restored` 1) and applies the mounts once they are fixed. Only without a kept
config (first boot) is an invalid site a StartupError.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from supervisor.reload.asterisk import AsteriskReload
from supervisor.reload.build import Config, ConfigBuilder, ConfigRejected
from supervisor.reload.configdir import ConfigDir
from supervisor.reload.lastgood import LastGood, LastGoodUnusable
from supervisor.reload.metrics import ReloadMetrics
from supervisor.reload.mounts import Mounts, Snapshot
from supervisor.reload.plan import Live, Plan, RestartReason, plan
from supervisor.reload.state import ReloadState

log = logging.getLogger(__name__)

RestartHook = Callable[[tuple[RestartReason, ...]], None]
"""Called (on the event loop) when the reasons for a restart change; empty: no longer needed."""

Outcome = Literal["unchanged", "applied", "rejected", "failed"]


@dataclass(frozen=True)
class ApplyResult:
    outcome: Outcome
    hash: str
    changed: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    restart_required: tuple[RestartReason, ...] = ()


class StartupError(Exception):
    """The initial config cannot be used and there is no last good one yet: the supervisor exits
    with this one line, every problem in it (file, line, key)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("site rejected: " + "; ".join(problems))
        self.problems = tuple(problems)


def _nothing(_value: object) -> None:
    return None


class Applier:
    """Applies the mounts' current content to a running Asterisk (see module docstring)."""

    def __init__(
        self,
        *,
        mounts: Mounts,
        config_dir: ConfigDir,
        build: ConfigBuilder,
        asterisk: AsteriskReload,
        metrics: ReloadMetrics,
        on_restart_required: RestartHook = _nothing,
        on_applied: Callable[[Config], None] = _nothing,
        last_good: LastGood | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mounts = mounts
        self.config_dir = config_dir
        self.builder = build
        self.asterisk = asterisk
        self.metrics = metrics
        self._on_restart_required = on_restart_required
        self._on_applied = on_applied
        self._last_good = last_good
        self._clock = clock
        self._lock = asyncio.Lock()
        self._state = ReloadState()
        self._live: Config | None = None  # last verified (or booted) config
        self._booted: Config | None = None  # what Asterisk read at its last start
        self._failed_hash: str | None = None

    # -- state (read-only outside) ---------------------------------------------------------

    @property
    def state(self) -> ReloadState:
        return self._state

    @property
    def live(self) -> Config | None:
        return self._live

    def _update(self, **changes: object) -> None:
        self._state = dataclasses.replace(self._state, **changes)  # type: ignore[arg-type]

    # -- building --------------------------------------------------------------------------

    def _build(self, snapshot: Snapshot) -> Config:
        problems = snapshot.problems
        if problems:
            raise ConfigRejected(problems)
        try:
            return self.builder.build(snapshot.config, snapshot.secrets, snapshot.hash)
        except ConfigRejected:
            raise
        except Exception as exc:  # a renderer bug rejects the input: report, keep last good
            raise ConfigRejected([f"{type(exc).__name__}: {exc}"]) from exc

    def _rerender(self, live: Config) -> Config:
        try:
            return self.builder.rerender(live)
        except ConfigRejected:
            raise
        except Exception as exc:  # a renderer bug must not stop the caller's loop
            raise ConfigRejected([f"{type(exc).__name__}: {exc}"]) from exc

    # -- start-up --------------------------------------------------------------------------

    def prepare(self) -> Config:
        """Before Asterisk starts: build the config and write every file; Asterisk then reads
        exactly this config. An invalid mounted site falls back on the last good config kept on
        the volume (reported as a rejected change); without one it raises StartupError (one
        line, every problem located)."""
        snapshot = self.mounts.snapshot()
        try:
            config = self._build(snapshot)
        except ConfigRejected as exc:
            config = self._restore_last_good(exc.problems)
            self._start_on(config)
            self._failed_hash = snapshot.hash
            self.metrics.apply_operations_failed.inc()
            self.metrics.last_reload_successful.set(0)
            self.metrics.last_good_restored.set(1)
            line = "; ".join(exc.problems)
            self._update(last_error=line, failures=1, last_good_restored=True)
            log.error(
                "mounted site %s rejected at start: %s; started on the last good config %s "
                "kept on the volume, until the mounts are fixed",
                snapshot.hash[:12],
                line,
                config.hash[:12],
            )
            return config
        self._start_on(config)
        # The start-up config counts as the first successful reload (thanos: the initial apply),
        # so "last reload successful == 0" means a change failed, not "nothing changed yet".
        self.metrics.last_reload_successful.set(1)
        self._keep(snapshot)
        return config

    def _restore_last_good(self, problems: Sequence[str]) -> Config:
        """The kept config, built with this boot's render context; StartupError naming the
        mounted site's problems (and the kept config's, if it is there but unusable)."""
        if self._last_good is None:
            raise StartupError(problems)
        try:
            kept = self._last_good.load()
        except LastGoodUnusable as exc:
            raise StartupError([*problems, f"no fallback: {exc}"]) from None
        if kept is None:  # first boot: nothing was ever live here
            raise StartupError(problems)
        try:
            return self._build(kept)
        except ConfigRejected as exc:  # e.g. a newer supervisor's model refuses the old site
            why = "; ".join(exc.problems)
            raise StartupError(
                [*problems, f"no fallback: the last good config {kept.hash[:12]} is refused: {why}"]
            ) from None

    def _start_on(self, config: Config) -> None:
        self.config_dir.write_audio(config.audio)
        self.config_dir.write(config.files)
        self.config_dir.remove_audio(self.config_dir.audio_names() - set(config.audio))
        self._live = self._booted = config
        self._on_applied(config)
        now = self._clock()
        self.metrics.last_reload_success_timestamp.set(now)
        self.metrics.set_live_hash(config.hash)
        self._update(live_hash=config.hash, last_success=now)
        log.info("config %s written: %s", config.hash[:12], ", ".join(sorted(config.files)))

    def _keep(self, snapshot: Snapshot) -> None:
        """Keep a snapshot that went live on the volume. A failure is logged: the config is live
        all the same, only a later start with an invalid site could not fall back on it."""
        if self._last_good is None:
            return
        try:
            self._last_good.save(snapshot)
        except Exception as exc:  # best effort: the config is live; a bug here must not undo it
            why = str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            log.error("the live config %s could not be kept: %s", snapshot.hash[:12], why)
            self._update(last_good_error=why)
        else:
            self._update(last_good_error=None)

    def asterisk_started(self) -> None:
        """Asterisk (re)started and read the files on disk: pending restart reasons are done."""
        if self._live is not None:
            self._booted = self._live
        self._update(config_live=self._live is not None)
        self._set_restart(())

    # -- steady state ----------------------------------------------------------------------

    async def apply(self, *, force: bool = False) -> ApplyResult:
        """Apply the mounts' content if it changed since the last verified apply (or always,
        with `force`). Never raises for bad input or Asterisk failures: they are reported."""
        async with self._lock:
            self.metrics.apply_operations.inc()
            self._update(last_attempt=self._clock())
            snapshot = await asyncio.to_thread(self.mounts.snapshot)
            digest = snapshot.hash
            if not force and self._live is not None and digest == self._live.hash:
                if self._failed_hash is not None:
                    # Reverted to the live config after a failure: the mounts and Asterisk agree.
                    self._failed_hash = None
                    self.metrics.last_reload_successful.set(1)
                    self.metrics.last_good_restored.set(0)
                    self._update(last_error=None, last_good_restored=False)
                    log.info("config %s is live again (mounts reverted)", digest[:12])
                return ApplyResult("unchanged", digest)
            try:
                config = await asyncio.to_thread(self._build, snapshot)
            except ConfigRejected as exc:
                return self._fail(digest, exc.problems, "rejected")
            result = await self._apply(config)
            if result.outcome == "applied":
                await asyncio.to_thread(self._keep, snapshot)
            return result

    async def refresh(self) -> ApplyResult:
        """Re-render the live site and apply the result: for render inputs besides the mounts
        (the security guard's ban list). The mounts are not re-read, so a broken ConfigMap
        waiting to be fixed cannot hold back a ban."""
        async with self._lock:
            live = self._live
            if live is None:
                return ApplyResult("unchanged", "")
            self.metrics.apply_operations.inc()
            self._update(last_attempt=self._clock())
            try:
                config = await asyncio.to_thread(self._rerender, live)
            except ConfigRejected as exc:
                return self._fail(live.hash, exc.problems, "rejected")
            # The live site was read back when it was applied; what a re-render changes (the
            # ban list: acl.conf, pjsip.conf for the first ban) is read back alone. Reading
            # back the whole dialplan and every endpoint for each ban batch was most of an
            # apply under a flood, in AMI round trips and messages parsed on the event loop.
            return await self._apply(config, mounted=False, verify_all=False)

    def record_crash(self, exc: BaseException) -> None:
        """An apply crashed (a bug): count it as a failed apply, keep the last good config."""
        self.metrics.apply_operations_failed.inc()
        self.metrics.last_reload_successful.set(0)
        self._update(last_error=f"internal error: {type(exc).__name__}: {exc}")

    async def _apply(
        self, config: Config, *, mounted: bool = True, verify_all: bool = True
    ) -> ApplyResult:
        managed = set(self._live.files) if self._live else set()
        on_disk = await asyncio.to_thread(self.config_dir.read_text, managed | set(config.files))
        audio = await asyncio.to_thread(self.config_dir.audio_names)
        steps = plan(Live(booted=self._booted, files=on_disk, audio=audio), config)
        backup = {name: on_disk.get(name) for name in steps.writes}
        try:
            # New audio first: the config files written next name them.
            new_audio = {name: config.audio[name] for name in steps.audio_writes}
            await asyncio.to_thread(self.config_dir.write_audio, new_audio)
            await asyncio.to_thread(self.config_dir.write, steps.writes)
        except OSError as exc:
            try:
                await asyncio.to_thread(self.config_dir.write, backup)
            except OSError as again:
                log.error("restoring the previous config files failed: %s", again)
            return self._fail(config.hash, [f"writing {self.config_dir.path}: {exc}"], "failed")
        problems = await self._reload(steps.modules)
        if not problems:
            before = {n: t for n, t in on_disk.items() if t is not None and n in config.files}
            checked = (
                config.files
                if verify_all
                else {n: t for n, t in config.files.items() if n in steps.writes}
            )
            problems = await self.asterisk.verify(checked, before)
        if problems:
            await self._restore(backup, steps.modules)
            for module in steps.modules:
                self.metrics.reloads_failed.labels(module=module).inc()
            return self._fail(config.hash, problems, "failed", steps)
        if steps.reregister:
            await self.asterisk.reregister(steps.reregister)
        try:
            await asyncio.to_thread(self.config_dir.remove_audio, steps.audio_removes)
        except OSError as exc:  # a stale file wastes space only; the next apply removes it
            log.warning("removing old audio files failed: %s", exc)
        return self._applied(config, steps, mounted=mounted)

    def _applied(self, config: Config, steps: Plan, *, mounted: bool) -> ApplyResult:
        self._live = config
        self._on_applied(config)
        now = self._clock()
        self.metrics.last_reload_success_timestamp.set(now)
        self.metrics.set_live_hash(config.hash)
        # A re-render of the live site (a ban) says nothing of mounts rejected since: their
        # failure (and the start on the kept config) stands until the mounts are fixed.
        if mounted or self._failed_hash in (None, config.hash):
            self.metrics.last_reload_successful.set(1)
            self._failed_hash = None
            self._update(last_error=None)
        if mounted:  # the live config now comes from the mounts, not from the volume
            self.metrics.last_good_restored.set(0)
            self._update(last_good_restored=False)
        self._update(
            config_live=True,
            live_hash=config.hash,
            last_success=now,
            applies=self._state.applies + 1,
        )
        self._set_restart(steps.restart)
        log.info(
            "config %s live: changed %s; reloaded %s%s",
            config.hash[:12],
            ", ".join(steps.changed) or "nothing",
            ", ".join(steps.modules) or "nothing",
            f"; restart required: {'; '.join(map(str, steps.restart))}" if steps.restart else "",
        )
        return ApplyResult(
            "applied",
            config.hash,
            changed=steps.changed,
            modules=steps.modules,
            restart_required=steps.restart,
        )

    def _set_restart(self, reasons: tuple[RestartReason, ...]) -> None:
        if reasons == self._state.restart_required:
            return
        self._update(restart_required=reasons)
        self.metrics.restart_required.set(1 if reasons else 0)
        if reasons:
            log.warning("Asterisk restart required: %s", "; ".join(map(str, reasons)))
        self._on_restart_required(reasons)

    async def _reload(self, modules: Sequence[str]) -> list[str]:
        for module in modules:
            self.metrics.reloads.labels(module=module).inc()
        return await self.asterisk.reload(modules)

    async def _restore(self, backup: Mapping[str, str | None], modules: Sequence[str]) -> None:
        try:
            await asyncio.to_thread(self.config_dir.write, backup)
        except OSError as exc:
            log.error("restoring the previous config files failed: %s", exc)
            return
        problems = await self._reload(modules)
        if not problems and self._live is not None:
            problems = await self.asterisk.verify(self._live.files)
        if problems:
            log.error("after restoring the previous config: %s", "; ".join(problems))

    def _fail(
        self, digest: str, problems: Sequence[str], outcome: Outcome, steps: Plan | None = None
    ) -> ApplyResult:
        self.metrics.apply_operations_failed.inc()
        self.metrics.last_reload_successful.set(0)
        line = "; ".join(problems)
        verb = "rejected" if outcome == "rejected" else "not applied, previous config kept"
        log.error("config %s %s: %s", digest[:12], verb, line)
        self._failed_hash = digest
        self._update(last_error=line, failures=self._state.failures + 1)
        return ApplyResult(
            outcome,
            digest,
            changed=steps.changed if steps else (),
            modules=steps.modules if steps else (),
            problems=tuple(problems),
        )
