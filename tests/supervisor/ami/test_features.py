"""The phones' do-not-disturb and forwards for /status: read from astdb with DBGetTree, only
the live site's featured phones kept, values cut to safe characters and the site's limit,
unknown until read, re-read on a hint."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest

from supervisor.ami.features import PhoneFeatureReader
from supervisor.ami.types import Message
from supervisor.site.resolve import ResolvedSite
from tests.supervisor.site.sites import load_text

SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
endpoints:
  desk: {auth: {password_secret: desk-password}}
  kitchen: {auth: {password_secret: kitchen-password}}
dialplan:
  extensions: {"11": desk, "12": kitchen}
  features: {max_forward_digits: 5}
"""
SECRETS = {"desk-password": "d-secret", "kitchen-password": "k-secret"}


@dataclass
class Applied:
    site: ResolvedSite


class Astdb:
    """Answers DBGetTree as Asterisk 22 does (a list; Key is /family/key), from a dict."""

    def __init__(self, rows: dict[str, dict[str, str]]) -> None:
        self.rows = rows
        self.calls = 0

    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        assert action["Action"] == "DBGetTree"
        self.calls += 1
        family = action["Family"]
        if family not in self.rows:
            return [{"Response": "Error", "Message": "Database entry not found"}]
        out: list[Message] = [{"Response": "Success", "EventList": "start"}]
        for key, value in self.rows[family].items():
            out.append({"Event": "DBGetTreeResponse", "Key": f"/{family}/{key}", "Val": value})
        out.append({"Event": "DBGetTreeComplete", "EventList": "Complete"})
        return out


def applied() -> Applied:
    return Applied(load_text(SITE, SECRETS).site)


async def test_only_the_sites_phones_with_something_on_are_shown() -> None:
    """desk's DND and kitchen's forward are shown; a key for no phone of the site is not; a
    stored value is cut to the site's limit and to the forward characters."""
    astdb = Astdb(
        {
            "supervisor-dnd": {"desk": "1", "stranger": "1"},
            "supervisor-forward": {"kitchen": "0301234567"},
            "supervisor-forward-busy": {"desk": "1&2x"},
        }
    )
    reader = PhoneFeatureReader(ami=astdb, booted=asyncio.Event())
    assert reader.status() == {"known": False, "phones": []}
    reader.on_config(applied())
    await reader.refresh()
    status = reader.status()
    assert status["known"] is True
    assert status["phones"] == [
        {"phone": "desk", "dnd": True, "forward_busy": "12"},
        {"phone": "kitchen", "forward_always": "03012"},
    ]


async def test_a_phone_gone_from_the_site_is_dropped_and_forget_is_unknown() -> None:
    """A new config without kitchen drops it at once; forget() makes the state unknown."""
    astdb = Astdb({"supervisor-forward": {"kitchen": "12"}})
    reader = PhoneFeatureReader(ami=astdb, booted=asyncio.Event())
    reader.on_config(applied())
    await reader.refresh()
    assert reader.status()["phones"] == [{"phone": "kitchen", "forward_always": "12"}]
    without = SITE.replace("  kitchen: {", "  hall: {").replace('"12": kitchen', '"12": hall')
    reader.on_config(Applied(load_text(without, SECRETS).site))
    assert reader.status()["phones"] == []
    reader.forget()
    assert reader.status() == {"known": False, "phones": []}


@pytest.mark.looptime
async def test_a_hint_rereads_well_before_the_interval() -> None:
    """After a first read, a hint (a reload) reads again at once, not after the interval."""
    astdb = Astdb({})
    booted = asyncio.Event()
    booted.set()
    reader = PhoneFeatureReader(ami=astdb, booted=booted, interval=3600)
    reader.on_config(applied())
    task = asyncio.create_task(reader.run())
    try:
        await asyncio.sleep(1)
        assert reader.status()["phones"] == []
        astdb.rows["supervisor-dnd"] = {"desk": "1"}
        reader.hint({"Event": "Reload"})
        await asyncio.sleep(1)
        assert reader.status()["phones"] == [{"phone": "desk", "dnd": True}]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
