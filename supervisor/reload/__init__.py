"""Live reload: watch kubelet mounts, apply atomically, reload only affected modules over AMI,
verify by read-back, keep the last good config.

Wiring (the composition root)::

    metrics = ReloadMetrics(registry)
    applier = Applier(config_mounts=[...], secret_mounts=[...],
                      config_dir=ConfigDir(Path("/etc/asterisk"), gid=asterisk_gid),
                      load=load_site, render=lambda site: render(site, context),
                      ami=ami_client, metrics=metrics,
                      restart_check=restart_required, on_restart_required=hook)
    applier.prepare()                    # before Asterisk starts; StartupError -> exit 1
    reloader = Reloader(applier=applier, booted=fully_booted_event, debounce=1.0, resync=60.0)
    tg.create_task(reloader.run(), name="reload")
    ...
    applier.asterisk_started()           # after each (re)start of Asterisk reached FullyBooted
    applier.state                         # ReloadState for /status and /readyz
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
