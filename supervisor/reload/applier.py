"""One config apply: snapshot the mounts, validate, render, replace changed files atomically,
reload only the affected modules, read back over AMI, and restore the previous files on failure.

The content hash of the mounts is recorded as live only after a verified reload, so a failed
apply is retried at the next hint or resync (thanos reloader semantics), and a fixed config
applies as soon as it arrives. Applies never overlap.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from supervisor.ami.types import AmiActions, AmiError
from supervisor.reload import modules as mod
from supervisor.reload.configdir import ConfigDir
from supervisor.reload.metrics import ReloadMetrics
from supervisor.reload.state import ReloadState
from supervisor.reload.verify import VerifyError, verify
from supervisor.site.mounts import Mount, content_hash, read_mount

log = logging.getLogger(__name__)

RELOAD_TIMEOUT = 10.0


class Loader(Protocol):
    """Site model from the config and secret mounts; raises an exception with `problems` (each
    printing as `file:line: key: message`) when the site is invalid."""

    def __call__(self, config: Sequence[Mount], secrets: Sequence[Mount], /) -> Any: ...


class Renderer(Protocol):
    """Asterisk config files `{name: text}` from a loaded site (the render context bound in)."""

    def __call__(self, loaded: Any, /) -> Mapping[str, str]: ...


RestartCheck = Callable[[Any, Any], Sequence[str]]
"""Reasons why going from the first loaded site to the second needs an Asterisk restart."""

RestartHook = Callable[[tuple[str, ...]], None]
"""Called (on the event loop) when the reasons for a restart change; empty: no longer needed."""

Outcome = Literal["unchanged", "applied", "rejected", "failed"]


@dataclass(frozen=True)
class ApplyResult:
    outcome: Outcome
    hash: str
    changed: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    restart_required: tuple[str, ...] = ()


class StartupError(Exception):
    """The initial config cannot be used: the supervisor must exit with this one line."""


@dataclass(frozen=True)
class _Built:
    hash: str
    loaded: Any
    files: dict[str, str]


class _Rejected(Exception):
    def __init__(self, digest: str, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.hash = digest
        self.problems = tuple(problems)


def _problems_of(exc: BaseException) -> list[str]:
    problems = getattr(exc, "problems", None)
    if problems:
        return [str(p) for p in problems]
    return [f"{type(exc).__name__}: {exc}"]


class Applier:
    """Applies the mounts' current content to a running Asterisk (see module docstring)."""

    def __init__(
        self,
        *,
        config_mounts: Sequence[Path],
        secret_mounts: Sequence[Path],
        config_dir: ConfigDir,
        load: Loader,
        render: Renderer,
        ami: AmiActions,
        metrics: ReloadMetrics,
        restart_check: RestartCheck | None = None,
        on_restart_required: RestartHook | None = None,
        on_applied: Callable[[Any], None] | None = None,
        module_map: Mapping[str, str | None],
        max_file_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config_mounts = tuple(Path(p) for p in config_mounts)
        self.secret_mounts = tuple(Path(p) for p in secret_mounts)
        self.config_dir = config_dir
        self._load = load
        self._render = render
        self.ami = ami
        self.metrics = metrics
        self._restart_check = restart_check
        self._on_restart_required = on_restart_required
        self._on_applied = on_applied
        self._module_map = module_map
        self._max_file_bytes = max_file_bytes
        self._clock = clock
        self._lock = asyncio.Lock()
        self._state = ReloadState()
        self._live: _Built | None = None  # last verified (or booted) config
        self._booted: _Built | None = None  # what Asterisk read at its last start
        self._failed_hash: str | None = None

    # -- state -----------------------------------------------------------------------------

    @property
    def state(self) -> ReloadState:
        return self._state

    def update_state(self, **changes: Any) -> None:
        self._state = dataclasses.replace(self._state, **changes)

    @property
    def live_files(self) -> Mapping[str, str]:
        return dict(self._live.files) if self._live else {}

    # -- building --------------------------------------------------------------------------

    def _read(self, path: Path) -> Mount:
        if self._max_file_bytes is None:
            return read_mount(path)
        return read_mount(path, max_file_bytes=self._max_file_bytes)

    def snapshot(self) -> tuple[list[Mount], list[Mount], str]:
        config = [self._read(p) for p in self.config_mounts]
        secrets = [self._read(p) for p in self.secret_mounts]
        return config, secrets, content_hash([*config, *secrets])

    def _build(self, config: list[Mount], secrets: list[Mount], digest: str) -> _Built:
        problems = [str(p) for m in (*config, *secrets) for p in m.problems]
        if problems:
            raise _Rejected(digest, problems)
        try:
            loaded = self._load(config, secrets)
            files = dict(self._render(loaded))
        except Exception as exc:  # the loader/renderer reject input: report, keep last good
            raise _Rejected(digest, _problems_of(exc)) from exc
        return _Built(hash=digest, loaded=loaded, files=files)

    def not_live_mounts(self) -> list[str]:
        """Mounts without `..data` (subPath mounts, plain directories): they never update."""
        out = []
        for path in (*self.config_mounts, *self.secret_mounts):
            if not self._read(path).live:
                out.append(str(path))
        return out

    # -- start-up --------------------------------------------------------------------------

    def prepare(self) -> ApplyResult:
        """Before Asterisk starts: build the config and write every file. Raises StartupError
        (one line) if the site is invalid; Asterisk then reads exactly this config."""
        config, secrets, digest = self.snapshot()
        try:
            built = self._build(config, secrets, digest)
        except _Rejected as exc:
            raise StartupError("site rejected: " + "; ".join(exc.problems)) from None
        self.config_dir.write(built.files)
        self._live = self._booted = built
        if self._on_applied is not None:
            self._on_applied(built.loaded)
        now = self._clock()
        # The start-up config counts as the first successful reload (thanos: the initial apply),
        # so "last reload successful == 0" means a change failed, not "nothing changed yet".
        self.metrics.last_reload_successful.set(1)
        self.metrics.last_reload_success_timestamp.set(now)
        self.metrics.set_live_hash(digest)
        self.update_state(live_hash=digest, last_success=now)
        log.info("config %s written: %s", digest[:12], ", ".join(sorted(built.files)))
        return ApplyResult("applied", digest, changed=tuple(sorted(built.files)))

    def asterisk_started(self, *, verified: bool = True) -> None:
        """Asterisk (re)started and read the files on disk: pending restart reasons are done."""
        if self._live is not None:
            self._booted = self._live
        self.update_state(config_live=verified and self._live is not None)
        self._set_restart(())

    # -- steady state ----------------------------------------------------------------------

    async def apply(self, *, force: bool = False) -> ApplyResult:
        """Apply the mounts' content if it changed since the last verified apply (or always,
        with `force`). Never raises for bad input or Asterisk failures: they are reported."""
        async with self._lock:
            self.metrics.apply_operations.inc()
            self.update_state(last_attempt=self._clock())
            config, secrets, digest = await asyncio.to_thread(self.snapshot)
            if not force and self._live is not None and digest == self._live.hash:
                if self._failed_hash is not None:
                    # Reverted to the live config after a failure: the mounts and Asterisk agree.
                    self._failed_hash = None
                    self.metrics.last_reload_successful.set(1)
                    self.update_state(last_error=None)
                    log.info("config %s is live again (mounts reverted)", digest[:12])
                return ApplyResult("unchanged", digest)
            try:
                built = await asyncio.to_thread(self._build, config, secrets, digest)
            except _Rejected as exc:
                return self._fail(exc.hash, exc.problems, "rejected")
            return await self._apply_built(built)

    async def refresh(self) -> ApplyResult:
        """Re-render the live site and apply the result: for render inputs besides the mounts
        (the security guard's ban list). The mounts are not re-read, so a broken ConfigMap
        waiting to be fixed cannot hold back a ban."""
        async with self._lock:
            live = self._live
            if live is None:
                return ApplyResult("unchanged", "")
            self.metrics.apply_operations.inc()
            self.update_state(last_attempt=self._clock())
            try:
                files = dict(await asyncio.to_thread(self._render, live.loaded))
            except Exception as exc:  # a renderer bug must not stop the loop
                return self._fail(live.hash, _problems_of(exc), "rejected")
            return await self._apply_built(_Built(hash=live.hash, loaded=live.loaded, files=files))

    async def _apply_built(self, built: _Built) -> ApplyResult:
        managed = list(self._live.files) if self._live else []
        changes = await asyncio.to_thread(self.config_dir.changed, built.files, managed)
        module_list, _ = mod.affected_modules(changes, self._module_map)
        restart = self._restart_reasons(built)
        backup = await asyncio.to_thread(self.config_dir.read, list(changes))
        try:
            await asyncio.to_thread(self.config_dir.write, changes)
        except OSError as exc:
            try:
                await asyncio.to_thread(self.config_dir.write, backup)
            except OSError as again:
                log.error("restoring the previous config files failed: %s", again)
            return self._fail(built.hash, [f"writing {self.config_dir.path}: {exc}"], "failed")
        problems = await self._reload(module_list)
        if not problems:
            previous = {
                name: data.decode(errors="replace")
                for name, data in backup.items()
                if data is not None
            }
            unchanged = {n: t for n, t in built.files.items() if n not in changes}
            problems = await self._verify(built.files, {**unchanged, **previous})
        if problems:
            await self._restore(backup, module_list)
            for module in module_list:
                self.metrics.reloads_failed.labels(module=module).inc()
            return self._fail(built.hash, problems, "failed", changed=changes, modules=module_list)
        old_pjsip = backup.get("pjsip.conf")
        if old_pjsip is not None and "pjsip.conf" in changes:
            await self._reregister(old_pjsip.decode(errors="replace"), built.files["pjsip.conf"])
        self._live = built
        if self._on_applied is not None:
            self._on_applied(built.loaded)
        now = self._clock()
        self.metrics.last_reload_successful.set(1)
        self.metrics.last_reload_success_timestamp.set(now)
        self.metrics.set_live_hash(built.hash)
        self._failed_hash = None
        self.update_state(
            config_live=True,
            live_hash=built.hash,
            last_error=None,
            last_success=now,
            applies=self._state.applies + 1,
        )
        self._set_restart(tuple(restart))
        log.info(
            "config %s live: changed %s; reloaded %s%s",
            built.hash[:12],
            ", ".join(sorted(changes)) or "nothing",
            ", ".join(module_list) or "nothing",
            f"; restart required: {'; '.join(restart)}" if restart else "",
        )
        return ApplyResult(
            "applied",
            built.hash,
            changed=tuple(sorted(changes)),
            modules=tuple(module_list),
            restart_required=tuple(restart),
        )

    def _restart_reasons(self, built: _Built) -> list[str]:
        base = self._booted
        if base is None:
            return []
        reasons: list[str] = []
        for name in sorted(set(base.files) | set(built.files)):
            if self._module_map.get(name, None) is None and base.files.get(name) != built.files.get(
                name
            ):
                reasons.append(f"{name} changed (read only at start-up)")
        model: list[str] = []
        if self._restart_check is not None:
            try:
                model = [str(r) for r in self._restart_check(base.loaded, built.loaded)]
            except Exception as exc:  # a faulty check must not block the apply
                log.warning("restart check failed: %s", exc)
        reasons += model
        # The rendered files catch what the model cannot see (raw snippets); a transport the
        # model already explained is not reported twice.
        for reason in mod.transport_changes(
            base.files.get("pjsip.conf"), built.files.get("pjsip.conf")
        ):
            name = reason.split()[1]
            if not any(r.startswith(f"transport {name} ") for r in model):
                reasons.append(reason)
        return list(dict.fromkeys(reasons))

    def _set_restart(self, reasons: tuple[str, ...]) -> None:
        if reasons == self._state.restart_required:
            return
        self.update_state(restart_required=reasons)
        self.metrics.restart_required.set(1 if reasons else 0)
        if reasons:
            log.warning("Asterisk restart required: %s", "; ".join(reasons))
        if self._on_restart_required is not None:
            self._on_restart_required(reasons)

    async def _reload(self, module_list: Sequence[str]) -> list[str]:
        problems = []
        for module in module_list:
            self.metrics.reloads.labels(module=module).inc()
            try:
                reply = await self.ami.action(
                    {"Action": "Reload", "Module": module}, timeout=RELOAD_TIMEOUT
                )
            except AmiError as exc:
                problems.append(f"reload {module}: {exc}")
                continue
            head = reply[0] if reply else {}
            if head.get("Response") != "Success":
                problems.append(f"reload {module}: {head.get('Message') or 'no response'}")
        return problems

    async def _verify(
        self, files: Mapping[str, str], previous: Mapping[str, str] | None = None
    ) -> list[str]:
        try:
            return await verify(self.ami, files, previous)
        except (AmiError, VerifyError) as exc:
            return [f"read-back: {exc}"]

    async def _reregister(self, old_pjsip: str, new_pjsip: str) -> None:
        """A changed auth alone does not restart a registration: ask for a fresh REGISTER so
        the provider sees the new credentials now, not at the next refresh."""
        for name in mod.registrations_with_changed_auth(old_pjsip, new_pjsip):
            try:
                reply = await self.ami.action(
                    {"Action": "PJSIPRegister", "Registration": name}, timeout=RELOAD_TIMEOUT
                )
            except AmiError as exc:
                log.warning("re-register %s: %s", name, exc)
                continue
            head = reply[0] if reply else {}
            if head.get("Response") != "Success":
                log.warning("re-register %s: %s", name, head.get("Message") or "no response")
            else:
                log.info("registration %s re-registers with its changed credentials", name)

    async def _restore(
        self, backup: Mapping[str, bytes | None], module_list: Sequence[str]
    ) -> None:
        try:
            await asyncio.to_thread(self.config_dir.write, backup)
        except OSError as exc:
            log.error("restoring the previous config files failed: %s", exc)
            return
        problems = await self._reload(module_list)
        if not problems and self._live is not None:
            problems = await self._verify(self._live.files)
        if problems:
            log.error("after restoring the previous config: %s", "; ".join(problems))

    def _fail(
        self,
        digest: str,
        problems: Sequence[str],
        outcome: Outcome,
        *,
        changed: Mapping[str, object] | None = None,
        modules: Sequence[str] = (),
    ) -> ApplyResult:
        self.metrics.apply_operations_failed.inc()
        self.metrics.last_reload_successful.set(0)
        line = "; ".join(problems)
        verb = "rejected" if outcome == "rejected" else "not applied, previous config kept"
        log.error("config %s %s: %s", digest[:12], verb, line)
        self._failed_hash = digest
        self.update_state(last_error=line, failures=self._state.failures + 1)
        return ApplyResult(
            outcome,
            digest,
            changed=tuple(sorted(changed or {})),
            modules=tuple(modules),
            problems=tuple(problems),
        )
