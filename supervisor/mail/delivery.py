"""Delivers the mail queue through the live site's relay, oldest first, one message at a time.

The queue is scanned every `poll_s` seconds (the enqueue script cannot wake us) and at once when
a config goes live. A failed attempt (relay down, timeout, TLS or AUTH refused) keeps the message
and waits the next delay of `supervisor.backoff.Backoff` before trying again; a success resets it.
A message the relay refuses for good (5xx) or that names no box's address is given up, logged
and counted: the voicemail itself stays in the box (app_voicemail keeps it; docs/mail.md).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn, Protocol

from supervisor.backoff import Backoff
from supervisor.mail.metrics import MailMetrics
from supervisor.mail.queue import MailQueue, Queued
from supervisor.mail.relay import Rejected, Relay, Unaddressed, recipients, send
from supervisor.site.resolve import ResolvedSite

log = logging.getLogger(__name__)

POLL_S = 5.0
BACKOFF_INITIAL_S = 5.0
BACKOFF_MAX_S = 600.0

Sender = Callable[[Relay, bytes, Sequence[str]], None]


class Loaded(Protocol):
    @property
    def site(self) -> ResolvedSite: ...

    @property
    def secrets(self) -> Mapping[str, str]: ...


class AppliedSite(Protocol):
    """The delivery's view of an applied config (`supervisor.reload.Config` satisfies it)."""

    @property
    def loaded(self) -> Loaded: ...


class MailDelivery:
    def __init__(
        self,
        *,
        queue: MailQueue,
        metrics: MailMetrics,
        sender: Sender = send,
        clock: Callable[[], float] = time.time,
        poll_s: float = POLL_S,
        backoff: Backoff | None = None,
    ) -> None:
        self.queue = queue
        self.metrics = metrics
        self.relay: Relay | None = None
        self.last_error: str | None = None
        self.last_sent: float | None = None
        self._send = sender
        self._clock = clock
        self._poll_s = poll_s
        self._backoff = backoff or Backoff(initial=BACKOFF_INITIAL_S, maximum=BACKOFF_MAX_S)
        self._wakeup = asyncio.Event()

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: its relay (or none) from now on; try the queue again at once."""
        self.relay = Relay.from_site(config.loaded.site, config.loaded.secrets)
        self._backoff.reset()
        self._wakeup.set()

    async def run(self) -> NoReturn:
        while True:
            delay = await self.deliver()
            try:
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            self._wakeup.clear()

    async def deliver(self) -> float:
        """One pass: count refusals, send what is queued until an attempt fails. Returns the
        seconds to wait before the next pass (the backoff's delay after a failure)."""
        now = self._clock()
        for reason in self.queue.take_drops(now):
            log.warning("a voicemail e-mail was refused by the queue (%s): not sent", reason)
            self.metrics.dropped(reason)
        pending = self.queue.pending()
        self.metrics.observe_queue(pending, now)
        relay = self.relay
        if relay is None:
            return self._poll_s
        for queued in pending:
            try:
                await self._deliver_one(relay, queued)
            except (OSError, smtplib.SMTPException) as exc:
                self.last_error = _describe(exc)
                self.metrics.failed()
                delay = self._backoff.next()
                log.warning(
                    "voicemail e-mail not delivered through %s: %s; %d queued, retry in %.0f s",
                    relay.where,
                    self.last_error,
                    len(pending),
                    delay,
                )
                self.metrics.observe_queue(self.queue.pending(), self._clock())
                return delay
            if relay is not self.relay:  # a new config went live meanwhile: use it
                break
        self._backoff.reset()
        self.metrics.observe_queue(self.queue.pending(), self._clock())
        return self._poll_s

    async def _deliver_one(self, relay: Relay, queued: Queued) -> None:
        try:
            message = queued.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            to = recipients(message, relay.recipients)
            await asyncio.to_thread(self._send, relay, message, to)
        except (Unaddressed, Rejected) as exc:
            reason = "no_recipient" if isinstance(exc, Unaddressed) else "rejected"
            log.error("voicemail e-mail given up (%s): %s", reason, exc)
            self.metrics.dropped(reason)
            self.queue.remove(queued)
            return
        self.queue.remove(queued)
        self.last_error = None
        self.last_sent = self._clock()
        self.metrics.sent()
        log.info("voicemail e-mail sent through %s", relay.where)

    def status(self) -> dict[str, object]:
        """The /status section: where mail goes, what waits, the last problem (no secret)."""
        pending = self.queue.pending()
        now = self._clock()
        return {
            "relay": None if self.relay is None else self.relay.where,
            "queued": len(pending),
            "oldest_age_s": round(now - pending[0].enqueued, 1) if pending else None,
            "last_sent": self.last_sent,
            "last_error": self.last_error,
        }


def _describe(exc: BaseException) -> str:
    """A one-line reason: the exception's kind and the relay's words (smtplib's messages carry
    the server's reply, never what we sent)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return f"{type(exc).__name__} {exc.smtp_code} {' '.join(words.split())[:200]}"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
