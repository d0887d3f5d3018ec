"""Messages waiting per voicemail box: `asterisk_supervisor_voicemail_messages{mailbox,folder}`.

`MailboxCounts` holds what Asterisk last reported for the boxes of the live site (the only label
values: endpoint names from the configuration, so the series are bounded by it). `MailboxPoller`
refreshes it with one `VoicemailUsersList` (every box's new and old counts) when a
`MessageWaiting` event says a box changed, after an app_voicemail reload, and on a timer against
drift (a message deleted from the spool by hand sends no event). While Asterisk is not booted
or the counts are not yet read, no series are exported: unknown is not zero.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import NoReturn, Protocol

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from supervisor.ami.poll import poll_forever
from supervisor.ami.types import AmiActions, Message
from supervisor.render.voicemail import mailbox
from supervisor.site.resolve import ResolvedSite

NAME = "asterisk_supervisor_voicemail_messages"
FOLDERS = ("new", "old")
ACTION_TIMEOUT = 5.0


class MailboxCounts:
    """Box name -> (new, old), for the boxes the live site declares."""

    def __init__(self) -> None:
        self._boxes: dict[str, str] = {}  # "11@default" -> endpoint name
        self._counts: dict[str, tuple[int, int]] = {}
        self.known = False

    def set_boxes(self, boxes: Mapping[str, str]) -> None:
        """The live site's boxes: endpoint name -> `number@context`."""
        self._boxes = {box: name for name, box in boxes.items()}
        self._counts = {n: c for n, c in self._counts.items() if n in self._boxes.values()}

    def update(self, rows: list[Message]) -> None:
        """From VoicemailUserEntry events; boxes Asterisk has beyond the site's are ignored."""
        counts: dict[str, tuple[int, int]] = {}
        for row in rows:
            box = f"{row.get('VoiceMailbox', '')}@{row.get('VMContext', '')}"
            name = self._boxes.get(box)
            if name is None:
                continue
            try:
                counts[name] = (int(row["NewMessageCount"]), int(row["OldMessageCount"]))
            except (KeyError, ValueError):
                continue
        self._counts = counts
        self.known = True

    def forget(self) -> None:
        """Asterisk went away: the counts are unknown until read again."""
        self.known = False

    def counts(self) -> dict[str, tuple[int, int]]:
        return dict(self._counts) if self.known else {}


class VoicemailCollector(Collector):
    def __init__(self, counts: MailboxCounts) -> None:
        self._counts = counts

    @classmethod
    def register(cls, registry: CollectorRegistry, counts: MailboxCounts) -> VoicemailCollector:
        collector = cls(counts)
        registry.register(collector)
        return collector

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            NAME,
            "Voicemail messages in each box of the site, by folder (new: not yet listened to).",
            labels=["mailbox", "folder"],
        )
        for name, (new, old) in sorted(self._counts.counts().items()):
            family.add_metric([name, "new"], new)
            family.add_metric([name, "old"], old)
        yield family


class AppliedSite(Protocol):
    """The poller's view of an applied config (`supervisor.reload.Config` satisfies it)."""

    @property
    def site(self) -> ResolvedSite: ...


class MailboxPoller:
    """Keeps MailboxCounts fresh over AMI (see the module docstring); follows the live config's
    boxes (`on_config`)."""

    def __init__(
        self,
        *,
        ami: AmiActions,
        counts: MailboxCounts,
        booted: asyncio.Event,
        interval: float = 60.0,
        settle: float = 0.2,
    ) -> None:
        self.ami = ami
        self.counts = counts
        self.booted = booted
        self.interval = interval
        self.settle = settle
        self._wakeup = asyncio.Event()

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: count its boxes (read again soon: boxes may have come or gone)."""
        boxes = config.site.mailboxes().items()
        self.counts.set_boxes({name: mailbox(number) for name, number in boxes})
        self.hint()

    def hint(self, _event: Message | None = None) -> None:
        """Something changed (a MessageWaiting or Reload event): read the counts again soon."""
        self._wakeup.set()

    async def refresh(self) -> None:
        reply = await self.ami.action({"Action": "VoicemailUsersList"}, timeout=ACTION_TIMEOUT)
        head = reply[0] if reply else {}
        if head.get("Response") != "Success":
            # "no voicemail users" when the site has no boxes: nothing to count.
            self.counts.update([])
            return
        self.counts.update([m for m in reply[1:] if m.get("Event") == "VoicemailUserEntry"])

    async def run(self) -> NoReturn:
        # Events come in bursts (a message moved: one MessageWaiting per box): one read.
        await poll_forever(
            booted=self.booted,
            refresh=self.refresh,
            forget=self.counts.forget,
            wakeup=self._wakeup,
            interval=self.interval,
            what="voicemail counts",
            settle=self.settle,
        )
