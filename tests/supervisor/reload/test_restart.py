"""Why the live config waits for an Asterisk restart (supervisor/reload/restart.py)."""

from __future__ import annotations

from supervisor.reload.plan import RestartReason
from supervisor.reload.restart import PendingRestart


def test_listeners_get_each_change_and_readers_the_current_reasons() -> None:
    """set() stores the reasons and tells every listener; () clears them."""
    pending = PendingRestart()
    heard: list[tuple[RestartReason, ...]] = []
    pending.subscribe(heard.append)
    assert pending.reasons() == ()
    reason = RestartReason(subject="transport udp6", change="bind changed")
    pending.set([reason])
    assert pending.reasons() == (reason,)
    pending.set(())
    assert pending.reasons() == ()
    assert heard == [(reason,), ()]
