"""The reload side's state as HTTP reads it (/status, /readyz): frozen values, replaced whole.

`ReloadState` is the applier's, `WatchState` the reload loop's; each is written by its owner only
and read by everyone else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from supervisor.reload.plan import RestartReason


@dataclass(frozen=True)
class ReloadState:
    """`config_live`: a config hash was written and verified in Asterisk (or booted with it);
    `live_hash`: that hash; `last_error`: the last failure (one line); `restart_required`: reasons a
    written change needs an Asterisk restart (stored here only); `last_good_restored`: the live
    config is the last good one kept on the volume, the mounted site having been rejected at start
    (until the mounts apply); `last_good_error`: why the live config could not be kept."""

    config_live: bool = False
    live_hash: str | None = None
    last_error: str | None = None
    last_attempt: float | None = None
    last_success: float | None = None
    restart_required: tuple[RestartReason, ...] = ()
    applies: int = 0
    failures: int = 0
    last_good_restored: bool = False
    last_good_error: str | None = None

    @property
    def ready(self) -> bool:
        """Readiness from the config's point of view: a verified config is live."""
        return self.config_live

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["restart_required"] = [str(r) for r in self.restart_required]
        return out


@dataclass(frozen=True)
class WatchState:
    """`pending`: a change waits (Asterisk not booted yet); `watch_mode`: inotify, polling or
    stopped; `not_live`: mounts that will not update live (no `..data`)."""

    pending: bool = False
    watch_mode: str = "stopped"
    not_live: tuple[str, ...] = ()
