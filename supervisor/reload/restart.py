"""Why the live config waits for an Asterisk restart: one value, set by the applier, read by
the parts that act on it (restart-when-idle) or must not misread it (the served-certificate check:
a transport waiting for the restart cannot serve its new certificate yet)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from supervisor.reload.plan import RestartReason

Listener = Callable[[tuple[RestartReason, ...]], None]


class PendingRestart:
    """The reasons (empty: none). `set` is the applier's `on_restart_required` hook."""

    def __init__(self) -> None:
        self._reasons: tuple[RestartReason, ...] = ()
        self._listeners: list[Listener] = []

    def reasons(self) -> tuple[RestartReason, ...]:
        return self._reasons

    def subscribe(self, listener: Listener) -> None:
        """Called with the reasons each time they change."""
        self._listeners.append(listener)

    def set(self, reasons: Sequence[RestartReason]) -> None:
        self._reasons = tuple(reasons)
        for listener in self._listeners:
            listener(self._reasons)
