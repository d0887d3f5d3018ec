"""Live reload: watch kubelet mounts, apply atomically, reload only affected modules over AMI,
verify by read-back, keep the last good config.

Wiring (the composition root)::

    applier = Applier(
        config_mounts=[...], secret_mounts=[...],             # the kubelet mount directories
        config_dir=ConfigDir(Path("/etc/asterisk"), gid=asterisk_gid),
        load=load_site,                                       # raises SiteInvalid(problems)
        render=lambda loaded: render(loaded, context),        # RenderContext bound in
        ami=ami_client,                                       # AmiActions
        metrics=ReloadMetrics(registry),
        restart_check=lambda old, new: restart_required(old.site, new.site),
        on_restart_required=hook,      # called with the reasons; () once no longer needed
        module_map=MODULE_OF_FILE,
    )
    applier.prepare()          # before Asterisk starts: writes every file; StartupError -> exit 1
    reloader = Reloader(applier=applier, booted=booted_event, debounce=1.0, resync=60.0)
    tg.create_task(guard("reload", reloader.run()), name="reload")   # never returns
    applier.asterisk_started() # at each FullyBooted: Asterisk now runs the files on disk
    reloader.hint()            # e.g. on SIGHUP: look at the mounts now (after the debounce)
    applier.state              # ReloadState for /status and /readyz

`booted_event` is set while Asterisk is FullyBooted and cleared when it goes away: applies wait
for it. A restart-required change is written and the rest of it reloaded; Asterisk runs it fully
after the entrypoint restarts it (then `asterisk_started()` clears the reasons).
"""

from __future__ import annotations

from supervisor.reload.applier import Applier, ApplyResult, StartupError
from supervisor.reload.configdir import ConfigDir
from supervisor.reload.loop import Debouncer, Reloader
from supervisor.reload.metrics import ReloadMetrics
from supervisor.reload.state import ReloadState

__all__ = [
    "Applier",
    "ApplyResult",
    "ConfigDir",
    "Debouncer",
    "ReloadMetrics",
    "ReloadState",
    "Reloader",
    "StartupError",
]
