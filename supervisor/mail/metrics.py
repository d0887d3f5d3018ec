"""The mail queue's metrics, on the injected registry: what waits, how old the oldest is, what
was sent, failed attempts, and what was given up by reason (a fixed set: queue.py)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from supervisor.mail.queue import DROP_REASONS, GIVE_UP_REASONS, Queued


class MailMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._queued = Gauge(
            "asterisk_supervisor_mail_queued",
            "Voicemail e-mails waiting in the queue on the spool volume",
            registry=registry,
        )
        self._oldest = Gauge(
            "asterisk_supervisor_mail_oldest_age_seconds",
            "Age of the oldest queued voicemail e-mail (0 when none waits)",
            registry=registry,
        )
        self._sent = Counter(
            "asterisk_supervisor_mail_sent",
            "Voicemail e-mails the relay accepted",
            registry=registry,
        )
        self._failed = Counter(
            "asterisk_supervisor_mail_send_failures",
            "Delivery attempts that failed and will be retried (relay down, TLS, AUTH, timeout)",
            registry=registry,
        )
        self._dropped = Counter(
            "asterisk_supervisor_mail_dropped",
            "Voicemail e-mails not sent: refused by the queue (full, too_large, error) or given "
            "up (no_recipient, rejected by the relay)",
            ["reason"],
            registry=registry,
        )
        for reason in (*DROP_REASONS, *GIVE_UP_REASONS):
            self._dropped.labels(reason=reason)

    def observe_queue(self, pending: Sequence[Queued], now: float) -> None:
        self._queued.set(len(pending))
        self._oldest.set(max(0.0, now - pending[0].enqueued) if pending else 0.0)

    def sent(self) -> None:
        self._sent.inc()

    def failed(self) -> None:
        self._failed.inc()

    def dropped(self, reason: str) -> None:
        self._dropped.labels(reason=reason).inc()
