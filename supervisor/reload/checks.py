"""The reload side's contribution to the status board: is a verified config live."""

from __future__ import annotations

from collections.abc import Callable

from supervisor.reload.state import ReloadState
from supervisor.status import Check


def config_checks(state: Callable[[], ReloadState]) -> Callable[[], list[Check]]:
    def checks() -> list[Check]:
        current = state()
        detail = f"live {current.live_hash[:12]}" if current.live_hash else "none yet"
        if current.last_good_restored:
            detail += " (the last good config kept on the volume: the mounted site was rejected)"
        if current.last_error:
            detail += f"; last change rejected: {current.last_error}"
        if current.last_good_error:
            detail += f"; not kept on the volume: {current.last_good_error}"
        if current.restart_required:
            detail += "; restart required: " + "; ".join(map(str, current.restart_required))
        return [Check(name="config", ok=current.config_live, detail=detail)]

    return checks
