"""Voicemail by e-mail with the real parts: the supervisor process and Asterisk 22 (chrooted) in the
pod namespace on examples/home with a relay in `voicemail.email`; the relay a real aiosmtpd
(STARTTLS under a lab CA's certificate for its address, AUTH required) on a host of its own
behind the router; a provider call (sipp) that talks and leaves a message in the desk's box.

app_voicemail pipes the e-mail to enqueue.sh, run by Asterisk's /bin/sh inside its root as its
user; the supervisor's delivery sends the queue. One pod and one relay for the module; each test
leaves its own message and counts from where it starts, so any test passes alone or in any order.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message as Email
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import netns, sipp
from lab.asterisk import RunDir, wait_until
from lab.harness import LabHarness
from lab.netns import Lab
from lab.paths import REPO
from lab.rootfs import asterisk_ids
from lab.smtp import MAIL_V6, PASSWORD, USER, LabRelay, Received
from lab.supervisor import SupervisorRun, read_dir
from lab.voicemail import WAV_BYTES_PER_S, WAV_HEADER, Message, message_left
from supervisor.mail import ENQUEUE_SCRIPT

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"
DESK_DID = "+4930123457"  # examples/home routes it to desk (box 11)
DESK_BOX = "11"
DESK_EMAIL = "desk@example.org"
SENDER = "voicemail@example.org"
RING_S = 5
# The unavailable greeting takes about 11.3 s after the answer; the caller talks after it.
HOLD_MS = 16_000
SENT = "asterisk_supervisor_mail_sent_total"
QUEUED = "asterisk_supervisor_mail_queued"
FAILURES = "asterisk_supervisor_mail_send_failures_total"
# The delivery polls every 5 s and backs off from 5 s (doubling, jitter within [d/2, d]): a
# message reaches a relay that answers within a poll, one that came back within the delay.
DELIVERY_S = 30


def site() -> dict[str, str]:
    """examples/home with a 5 s ring time, the desk's box e-mailed, and the lab's relay."""
    model: dict[str, Any] = yaml.safe_load((EXAMPLE / "site" / "site.yaml").read_text())
    model["dialplan"]["ring_time"] = RING_S
    model["endpoints"]["desk"]["voicemail"]["email"] = DESK_EMAIL
    model["voicemail"]["email"] = {
        "host": MAIL_V6,  # port: 587, the default for starttls
        "security": "starttls",
        "sender": SENDER,
        "username_secret": "smtp-username",
        "password_secret": "smtp-password",
        "ca_secret": "smtp-ca.crt",
    }
    return {"site.yaml": yaml.safe_dump(model, sort_keys=False)}


@dataclass
class Pod:
    lab: Lab
    run: RunDir
    relay: LabRelay
    supervisor: SupervisorRun

    def metric(self, name: str) -> float:
        return self.supervisor.metric(name) or 0.0

    def leave_message(self, name: str) -> Message:
        """An unanswered call to the desk's DID with a talking caller; the new message."""
        return message_left(
            self.lab, self.run, DESK_DID, DESK_BOX, hold_ms=HOLD_MS, ring_s=RING_S, name=name
        )

    def wait_sent(self, count: float, what: str) -> None:
        """Until the sent counter is `count`; a timeout says what the delivery saw."""
        try:
            wait_until(lambda: self.metric(SENT) == count, DELIVERY_S, what=what)
        except TimeoutError as exc:
            lines = [line for line in self.supervisor.output().splitlines() if "mail" in line]
            status = self.supervisor.status().get("mail")
            detail = f"{exc}\n/status mail: {status}\n" + "\n".join(lines[-20:])
            raise AssertionError(detail) from None

    def queue_files(self) -> list[str]:
        return sorted(p.name for p in self.run.path("spool").joinpath("supervisor/mail").iterdir())


@pytest.fixture(scope="module")
def pod(rootfs: Path) -> Iterator[Pod]:
    harness = LabHarness(rootfs)
    lab, run = harness.lab, harness.run
    try:
        relay = LabRelay(lab).start()
        harness.stoppers.append(relay.close)
        secrets = read_dir(EXAMPLE / "secrets")
        secrets |= {"smtp-username": USER, "smtp-password": PASSWORD, "smtp-ca.crt": relay.ca_pem}
        provider = secrets["provider-password"].strip()
        harness.stoppers.append(sipp.registrar(lab, run, netns.PROVIDER_V6, "pod1", provider).stop)
        # The script as the image installs it, inside Asterisk's root (it runs chrooted here).
        script = run.host / "enqueue.sh"
        shutil.copyfile(ENQUEUE_SCRIPT, script)
        script.chmod(0o644)
        enqueue = ["--mail-enqueue", run.inside(script)]
        sup = SupervisorRun(lab, run, site(), secrets, extra_args=enqueue)
        harness.stoppers.append(sup.stop)
        sup.start().wait_ready(40)
        yield Pod(lab, run, relay, sup)
    finally:
        harness.close()


def attachment(email: Email) -> tuple[str, bytes]:
    """The one audio part of an e-mail: its file name and decoded bytes."""
    parts = [p for p in email.walk() if p.get_content_maintype() == "audio"]
    assert len(parts) == 1, [p.get_content_type() for p in email.walk()]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return parts[0].get_filename() or "", payload


def assert_is_the_message(got: Received, message: Message) -> None:
    """The envelope and headers name the box's address and the site's sender; the WAV attached
    is the message's own recording, of its length."""
    assert (got.sender, got.recipients) == (SENDER, [DESK_EMAIL])
    assert [a for _, a in getaddresses(got.message.get_all("To", []))] == [DESK_EMAIL]
    assert parseaddr(got.message["From"])[1] == SENDER
    name, wav = attachment(got.message)
    assert name == message.wav.name
    assert wav == message.wav.read_bytes()
    assert (wav[:4], wav[8:12]) == (b"RIFF", b"WAVE")
    seconds = (len(wav) - WAV_HEADER) / WAV_BYTES_PER_S
    assert 2.0 <= seconds <= HOLD_MS / 1000, seconds
    assert abs(seconds - message.duration_s) <= 1.5, (seconds, message)


def test_a_message_left_is_e_mailed_with_its_wav_through_the_relay(pod: Pod) -> None:
    """A caller leaves a message in the desk's box: the relay receives it once over STARTTLS and
    AUTH, to the box's address from the site's sender with the WAV attached; the queue is empty
    and the sent counter went up by one."""
    sent, seen = pod.metric(SENT), len(pod.relay.received)
    message = pod.leave_message("mailed")
    pod.wait_sent(sent + 1, "the e-mail sent")
    (got,) = pod.relay.received[seen:]
    assert_is_the_message(got, message)
    assert pod.queue_files() == []
    assert pod.metric(QUEUED) == 0
    status = pod.supervisor.status()["mail"]
    assert status["relay"] == f"[{MAIL_V6}]:587 (starttls)"
    assert (status["queued"], status["last_error"]) == (0, None)
    assert message.wav.exists(), "the message stays in the box"


def test_a_message_waits_while_the_relay_is_down_then_is_delivered_once(pod: Pod) -> None:
    """Relay down: the message's e-mail is queued on the spool volume (written by enqueue.sh as
    Asterisk's user, private), the metrics and /status show it waiting and the failure; relay
    up again: it is delivered exactly once and the queue is empty."""
    sent, failures, seen = pod.metric(SENT), pod.metric(FAILURES), len(pod.relay.received)
    pod.relay.stop()
    try:
        message = pod.leave_message("queued")
        wait_until(lambda: pod.metric(FAILURES) > failures, DELIVERY_S, what="a failed attempt")
        assert pod.metric(QUEUED) == 1
        assert pod.metric(SENT) == sent
        (queued,) = pod.queue_files()
        assert queued.endswith(".eml")
        info = (pod.run.path("spool") / "supervisor" / "mail" / queued).stat()
        uid, gid = asterisk_ids(pod.run.rootfs)
        assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (uid, gid, 0o600)
        status = pod.supervisor.status()["mail"]
        assert status["queued"] == 1
        assert isinstance(status["oldest_age_s"], float)
        assert "ConnectionRefusedError" in str(status["last_error"])
        assert PASSWORD not in str(status)
        assert pod.relay.received[seen:] == []
    finally:
        pod.relay.start()
    back = time.monotonic()
    pod.wait_sent(sent + 1, "the queued e-mail sent")
    print(f"delivered {time.monotonic() - back:.1f} s after the relay came back")
    (got,) = pod.relay.received[seen:]
    assert_is_the_message(got, message)
    # Sent, then removed: nothing is left that could be sent a second time.
    assert pod.queue_files() == []
    assert pod.metric(QUEUED) == 0
    assert pod.supervisor.status()["mail"]["last_error"] is None
