"""Address recovery: a required address usable again reloads res_pjsip, only while Asterisk is
booted; a failed reload is logged, never raised."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from supervisor.addresses.model import ExpectedAddress
from supervisor.addresses.recovery import AddressRecovery

ADDRESS = (ExpectedAddress.parse("2001:db8:e8b1::1:1"),)


class Reloads:
    def __init__(self, problems: list[str] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.problems = problems or []

    async def reload(self, modules: Sequence[str]) -> list[str]:
        self.calls.append(list(modules))
        return self.problems


async def test_reloads_res_pjsip_when_booted() -> None:
    """Booted: one res_pjsip.so reload per recovery."""
    reloads = Reloads()
    await AddressRecovery(asterisk=reloads, booted=lambda: True)(ADDRESS)
    assert reloads.calls == [["res_pjsip.so"]]


async def test_nothing_before_asterisk_booted() -> None:
    """Not booted: Asterisk binds its transports when it starts; nothing is sent."""
    reloads = Reloads()
    await AddressRecovery(asterisk=reloads, booted=lambda: False)(ADDRESS)
    assert reloads.calls == []


async def test_a_failed_reload_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A refused reload is a warning naming the problem, not an exception."""
    reloads = Reloads(["reload res_pjsip.so: not connected"])
    with caplog.at_level(logging.WARNING):
        await AddressRecovery(asterisk=reloads, booted=lambda: True)(ADDRESS)
    assert "not connected" in caplog.text
