"""Voicemail metrics: new/old per box of the site (labels only from the site), absent while the
counts are unknown, refreshed when Asterisk says a box changed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry

from supervisor.ami.types import Message
from supervisor.metrics.voicemail import NAME, MailboxCounts, MailboxPoller, VoicemailCollector


class Boxes:
    """Answers VoicemailUsersList like app_voicemail, from a dict box -> (new, old)."""

    def __init__(self, counts: dict[str, tuple[int, int]]) -> None:
        self.counts = counts
        self.calls = 0

    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        assert action["Action"] == "VoicemailUsersList"
        self.calls += 1
        rows: list[Message] = [{"Response": "Success", "EventList": "start"}]
        for box, (new, old) in self.counts.items():
            number, context = box.split("@")
            rows.append(
                {
                    "Event": "VoicemailUserEntry",
                    "VMContext": context,
                    "VoiceMailbox": number,
                    "NewMessageCount": str(new),
                    "OldMessageCount": str(old),
                }
            )
        return rows


def value(registry: CollectorRegistry, mailbox: str, folder: str) -> float | None:
    return registry.get_sample_value(NAME, {"mailbox": mailbox, "folder": folder})


async def test_counts_by_site_mailbox_name_and_only_the_sites_boxes() -> None:
    """Series are labelled by the site's endpoint name; a box only Asterisk knows is not one."""
    registry = CollectorRegistry()
    counts = MailboxCounts()
    VoicemailCollector.register(registry, counts)
    counts.set_boxes({"desk": "11@default"})
    ami = Boxes({"11@default": (2, 5), "99@default": (7, 7)})
    booted = asyncio.Event()
    poller = MailboxPoller(ami=ami, counts=counts, booted=booted, interval=60, settle=0)
    assert value(registry, "desk", "new") is None  # unknown before the first read
    await poller.refresh()
    assert (value(registry, "desk", "new"), value(registry, "desk", "old")) == (2, 5)
    mailboxes = {s.labels["mailbox"] for m in registry.collect() for s in m.samples}
    assert mailboxes == {"desk"}
    counts.forget()
    assert value(registry, "desk", "new") is None


async def test_a_hint_rereads_the_counts_at_once() -> None:
    """A MessageWaiting event (hint) makes the poller read again well before its interval."""
    registry = CollectorRegistry()
    counts = MailboxCounts()
    VoicemailCollector.register(registry, counts)
    counts.set_boxes({"desk": "11@default"})
    ami = Boxes({"11@default": (0, 0)})
    booted = asyncio.Event()
    booted.set()
    poller = MailboxPoller(ami=ami, counts=counts, booted=booted, interval=3600, settle=0)
    task = asyncio.create_task(poller.run())
    try:
        async with asyncio.timeout(2):
            while ami.calls < 1:
                await asyncio.sleep(0.01)
            ami.counts["11@default"] = (1, 0)
            poller.hint({"Event": "MessageWaiting", "Mailbox": "11@default"})
            while value(registry, "desk", "new") != 1:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
