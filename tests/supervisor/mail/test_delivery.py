"""The delivery of the queue through the live site's relay (a real aiosmtpd with STARTTLS and
AUTH): sent and removed when the relay answers; kept, counted and retried after the backoff's
delay while it is down; given up only when refused for good or addressed to no box."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from lab.smtp import PASSWORD, USER, Handler, authority, port_of, serve
from supervisor.backoff import Backoff
from supervisor.mail.delivery import MailDelivery
from supervisor.mail.metrics import MailMetrics
from supervisor.mail.queue import MailQueue
from supervisor.site.load import LoadedSite, load_site
from tests.supervisor.mail.test_queue import enqueue
from tests.supervisor.site.sites import config_mount, secret_mount

SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
endpoints:
  desk:
    auth: {{password_secret: desk-password}}
    voicemail: {{pin_secret: desk-pin, email: desk@example.org}}
dialplan:
  extensions:
    "11": desk
voicemail:
  email:
    host: mail.example.org
    port: {port}
    sender: pbx@example.org
    username_secret: smtp-user
    password_secret: smtp-password
    ca_secret: smtp-ca
"""


def message(to: str = "desk@example.org") -> bytes:
    return (
        f'From: "Voicemail" <pbx@example.org>\r\nTo: "desk" <{to}>\r\n'
        "Subject: New message\r\n\r\nA message\r\n"
    ).encode()


@dataclass(frozen=True)
class Applied:
    loaded: LoadedSite


def applied(port: int, ca: str) -> Applied:
    secrets = {
        "desk-password": "d-secret",
        "desk-pin": "864209",
        "smtp-user": USER,
        "smtp-password": PASSWORD,
        "smtp-ca": ca,
    }
    site = config_mount(("site.yaml", SITE.format(port=port)))
    return Applied(load_site([site], [secret_mount(secrets)]))


def go_live(delivery: MailDelivery, config: Applied) -> None:
    """on_config, then the relay's name pointed at this host's test server (the site model
    refuses localhost as a peer; the server's certificate is for localhost)."""
    delivery.on_config(config)
    assert delivery.relay is not None
    assert delivery.relay.host == "mail.example.org"
    delivery.relay = dataclasses.replace(delivery.relay, host="localhost")


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_queued_mail_waits_while_the_relay_is_down_then_is_sent(tmp_path: Path) -> None:
    """Relay down: the message stays, failures count, delays double; back up: sent, removed."""
    ca = authority()
    handler = Handler()
    server = await serve(handler, ca.server_context(tmp_path))
    port = port_of(server)
    server.close()
    await server.wait_closed()
    registry = CollectorRegistry()
    queue = MailQueue(tmp_path / "mail")
    queue.create(None)
    delivery = MailDelivery(
        queue=queue,
        metrics=MailMetrics(registry),
        clock=lambda: 1e10,
        backoff=Backoff(initial=5.0, maximum=600.0, jitter=False),
    )
    go_live(delivery, applied(port, ca.ca_pem))
    assert enqueue(queue.directory, message()) == 0
    assert [await delivery.deliver() for _ in range(3)] == [5.0, 10.0, 20.0]
    assert value(registry, "asterisk_supervisor_mail_send_failures_total") == 3
    assert value(registry, "asterisk_supervisor_mail_queued") == 1
    assert (value(registry, "asterisk_supervisor_mail_oldest_age_seconds") or 0) > 0
    assert "ConnectionRefusedError" in str(delivery.status()["last_error"])
    assert PASSWORD not in str(delivery.status())

    server = await serve(handler, ca.server_context(tmp_path), port=port)
    async with server:
        assert await delivery.deliver() == 5.0  # the poll interval: the backoff was reset
    (got,) = handler.received
    assert (got.sender, got.recipients) == ("pbx@example.org", ["desk@example.org"])
    assert queue.pending() == []
    assert value(registry, "asterisk_supervisor_mail_sent_total") == 1
    assert value(registry, "asterisk_supervisor_mail_queued") == 0
    assert value(registry, "asterisk_supervisor_mail_oldest_age_seconds") == 0


async def test_refusals_and_unaddressed_mail_are_given_up_and_counted(tmp_path: Path) -> None:
    """A 554 and a message to no box of the site are dropped by reason; the queue moves on."""
    ca = authority()
    handler = Handler(refuse="554 5.7.1 no")
    registry = CollectorRegistry()
    queue = MailQueue(tmp_path / "mail")
    queue.create(None)
    delivery = MailDelivery(queue=queue, metrics=MailMetrics(registry))
    server = await serve(handler, ca.server_context(tmp_path))
    async with server:
        go_live(delivery, applied(port_of(server), ca.ca_pem))
        assert enqueue(queue.directory, message("someone@example.net")) == 0
        assert enqueue(queue.directory, message()) == 0
        await delivery.deliver()
    assert queue.pending() == []
    dropped = "asterisk_supervisor_mail_dropped_total"
    assert value(registry, dropped, reason="no_recipient") == 1
    assert value(registry, dropped, reason="rejected") == 1
    assert value(registry, "asterisk_supervisor_mail_sent_total") == 0


async def test_without_a_relay_mail_is_kept_and_the_scripts_refusals_are_counted(
    tmp_path: Path,
) -> None:
    """No relay in the live site: nothing is sent or lost; the queue's refusals are counted."""
    registry = CollectorRegistry()
    queue = MailQueue(tmp_path / "mail")
    queue.create(None)
    delivery = MailDelivery(queue=queue, metrics=MailMetrics(registry), poll_s=7.0)
    assert enqueue(queue.directory, message()) == 0
    assert enqueue(queue.directory, message(), max_messages=1) == 75
    assert await delivery.deliver() == 7.0
    assert len(queue.pending()) == 1
    assert value(registry, "asterisk_supervisor_mail_dropped_total", reason="full") == 1
    assert delivery.status()["relay"] is None


async def test_a_config_going_live_wakes_the_delivery(tmp_path: Path) -> None:
    """on_config sets the relay and wakes the task at once (no wait for the poll)."""
    ca = authority()
    handler = Handler()
    queue = MailQueue(tmp_path / "mail")
    queue.create(None)
    delivery = MailDelivery(queue=queue, metrics=MailMetrics(CollectorRegistry()), poll_s=3600)
    assert enqueue(queue.directory, message()) == 0
    server = await serve(handler, ca.server_context(tmp_path))
    async with server:
        task = asyncio.create_task(delivery.run())
        await asyncio.sleep(0.1)
        assert handler.received == []
        go_live(delivery, applied(port_of(server), ca.ca_pem))
        async with asyncio.timeout(30):
            while queue.pending():
                await asyncio.sleep(0.05)
        task.cancel()
    assert len(handler.received) == 1
