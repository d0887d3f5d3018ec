"""Live reload: watch kubelet mounts, apply atomically, reload only affected modules over AMI,
verify by read-back, keep the last good config.

Wiring (the composition root)::

    applier = Applier(
        mounts=Mounts(config=(...), secrets=(...)),       # the kubelet mount directories
        config_dir=ConfigDir(Path("/etc/asterisk"), gid=asterisk_gid),
        build=SiteConfigBuilder(render_context),          # site loader + renderer, typed
        asterisk=AmiReload(ami_client),                   # AsteriskReload over AMI
        metrics=ReloadMetrics(registry),
        on_restart_required=hook,      # called with the reasons; () once no longer needed
    )
    applier.prepare()          # before Asterisk starts: writes every file; StartupError -> exit 1
    reloader = Reloader(applier=applier, booted=ami_client.fully_booted)
    tg.create_task(guard("reload", reloader.run()), name="reload")   # never returns
    ami_client.on_boot(applier.asterisk_started)   # Asterisk now runs the files on disk
    reloader.hint()            # e.g. on SIGHUP: look at the mounts now (after the debounce)
    applier.state, reloader.state   # ReloadState, WatchState for /status and /readyz

What a change takes (files, modules, restart reasons, re-registrations) is decided by
`plan.plan(live, new)` only. A restart-required change is written and the rest of it reloaded;
Asterisk runs it fully after the entrypoint restarts it (then `asterisk_started()` clears the
reasons).
"""

from __future__ import annotations

from supervisor.reload.applier import Applier, ApplyResult, StartupError
from supervisor.reload.asterisk import AmiReload, AsteriskReload
from supervisor.reload.build import Config, ConfigBuilder, ConfigRejected, SiteConfigBuilder
from supervisor.reload.configdir import ConfigDir
from supervisor.reload.loop import Debouncer, Reloader
from supervisor.reload.metrics import ReloadMetrics
from supervisor.reload.mounts import Mounts
from supervisor.reload.plan import Plan, RestartReason, plan
from supervisor.reload.state import ReloadState, WatchState

__all__ = [
    "AmiReload",
    "Applier",
    "ApplyResult",
    "AsteriskReload",
    "Config",
    "ConfigBuilder",
    "ConfigDir",
    "ConfigRejected",
    "Debouncer",
    "Mounts",
    "Plan",
    "ReloadMetrics",
    "ReloadState",
    "Reloader",
    "RestartReason",
    "SiteConfigBuilder",
    "StartupError",
    "WatchState",
    "plan",
]
