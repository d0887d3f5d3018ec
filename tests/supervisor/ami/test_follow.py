"""The AMI session follows the Asterisk process (supervisor/ami/follow.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from supervisor.ami.follow import FollowProcess


@dataclass
class Session:
    calls: list[str] = field(default_factory=list)

    def reconnect_now(self) -> None:
        self.calls.append("reconnect_now")

    def close(self) -> None:
        self.calls.append("close")


def test_a_new_process_logs_in_at_once_and_an_exit_closes_the_session_and_forgets() -> None:
    """started(): reconnect without backoff; exited(): close the dead session, then every
    forget hook runs (the parts whose view of the old Asterisk is stale)."""
    session = Session()
    order: list[str] = []
    follow = FollowProcess(session, forget=(lambda: order.append(f"forget after {session.calls}"),))
    follow.started(object())
    assert session.calls == ["reconnect_now"]
    assert order == []
    follow.exited(137)
    assert session.calls == ["reconnect_now", "close"]
    assert order == ["forget after ['reconnect_now', 'close']"]
