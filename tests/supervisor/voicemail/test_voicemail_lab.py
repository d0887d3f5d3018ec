"""Voicemail end to end with real parts: the supervisor process and Asterisk 22 in the pod
namespace running examples/home, a phone (sipp) that rings without answering and records its MWI
NOTIFYs, a caller (sipp) that talks (a PCMU tone from a pcap made in code), and a phone dialling
the access extension with RFC 4733 DTMF.

One PBX for the module (a pod with its persistent directories); each test leaves the messages it
needs itself, so any test passes alone and in any order.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import netns, sipp
from lab.asterisk import RunDir, sweep_stale_runs, wait_until
from lab.fixtures import require_root
from lab.kubelet import write_mount
from lab.netns import Lab
from lab.paths import REPO
from lab.rootfs import ensure_rootfs
from lab.supervisor import SupervisorRun, read_dir
from lab.voicemail import (
    WAV_HEADER,
    Message,
    MwiPhone,
    dial_with_dtmf,
    message_left,
    messages,
    subscribe_mwi,
)
from supervisor.site.mounts import content_hash, read_mount

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"
DESK_DID = "+4930123457"  # examples/home routes it to desk (box 11)
DESK_BOX = "11"
RING_S = 5  # the site's ring time here: an unanswered call reaches voicemail after 5 s
# The unavailable greeting ("the person at extension 1 1 is unavailable", the instructions,
# the beep) takes about 11.3 s after the answer (measured); the caller talks for 16 s from it.
HOLD_MS = 16_000
PHONE_PORT = 5064
EPHEMERAL = ("etc", "run", "lib")  # emptyDirs in the pod: a new pod starts with them empty


def site() -> dict[str, str]:
    """examples/home with a 5 s ring time, and the kitchen phone on UDP (the example serves it
    over TLS; here it only subscribes to its message summary, with a plain sipp)."""
    files = read_dir(EXAMPLE / "site")
    text = files["site.yaml"]
    assert "dialplan:\n" in text
    text = text.replace("dialplan:\n", f"dialplan:\n  ring_time: {RING_S}\n", 1)
    head, kitchen = text.split("  kitchen:\n", 1)
    block, rest = kitchen.split("\n  doorbell:\n", 1)
    block = re.sub(r"^    (transport|media_encryption):.*\n", "", block + "\n", flags=re.M)
    files["site.yaml"] = head + "  kitchen:\n" + block + "  doorbell:\n" + rest
    return files


@dataclass
class Pod:
    """The lab, the pod's run directory (spool and astdb persistent), the supervisor, the desk
    phone and the provider's registrar."""

    lab: Lab
    run: RunDir
    secrets: dict[str, str]
    supervisor: SupervisorRun
    desk: MwiPhone

    @property
    def spool(self) -> Path:
        return self.run.path("spool")

    def pin(self) -> str:
        return self.secrets["desk-voicemail-pin"].strip()

    def password(self) -> str:
        return self.secrets["desk-password"].strip()

    def box(self) -> list[Message]:
        return messages(self.spool, DESK_BOX)

    def inbox(self) -> list[Message]:
        return [m for m in self.box() if m.folder == "INBOX"]

    def metric(self, folder: str) -> float | None:
        return self.supervisor.metric(
            "asterisk_supervisor_voicemail_messages", {"mailbox": "desk", "folder": folder}
        )

    def start_supervisor(self) -> SupervisorRun:
        self.supervisor = SupervisorRun(self.lab, self.run, site(), self.secrets).start()
        self.supervisor.wait_ready(40)
        return self.supervisor

    def asterisk_cli(self, command: str) -> str:
        conf = self.run.inside(self.run.path("etc") / "asterisk.conf")
        argv = ["chroot", str(self.run.rootfs), "/usr/sbin/asterisk", "-C", conf, "-rx", command]
        return self.lab.run("pod", argv, check=False).stdout

    def leave_message(self, name: str) -> Message:
        """An unanswered call to the desk's DID with a talking caller; the new INBOX message."""
        return message_left(
            self.lab, self.run, DESK_DID, DESK_BOX, hold_ms=HOLD_MS, ring_s=RING_S, name=name
        )


@pytest.fixture(scope="module")
def pod() -> Iterator[Pod]:
    require_root()
    netns.sweep_stale()
    rootfs = ensure_rootfs()
    sweep_stale_runs(rootfs)
    lab = Lab().up()
    run = RunDir(rootfs, f"{lab.prefix}-vm").create()
    stoppers = []
    try:
        secrets = read_dir(EXAMPLE / "secrets")
        registrar = sipp.registrar(
            lab, run, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
        )
        stoppers.append(registrar.stop)
        the_pod = Pod(lab, run, secrets, SupervisorRun(lab, run, site(), secrets), None)  # type: ignore[arg-type]
        the_pod.start_supervisor()
        stoppers.append(lambda: the_pod.supervisor.stop())
        the_pod.desk = MwiPhone(lab, run, "desk", the_pod.password(), PHONE_PORT).start()
        stoppers.append(the_pod.desk.stop)
        the_pod.desk.register()
        yield the_pod
    finally:
        for stop in reversed(stoppers):
            stop()
        run.remove()
        lab.down()


def rms(message: Message) -> float:
    data = message.wav.read_bytes()[WAV_HEADER:]
    samples = struct.unpack(f"<{len(data) // 2}h", data[: len(data) // 2 * 2])
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def test_unanswered_call_leaves_a_message_with_audio_and_the_phone_gets_mwi(pod: Pod) -> None:
    """Nobody answers the desk: the caller's tone is recorded in box 11 (a WAV of plausible
    length, at the tone's level), the desk phone gets a message-summary NOTIFY saying so, and
    the supervisor's metric counts it."""
    message = pod.leave_message("unanswered")
    # The caller talked 16 s after the answer, of which the greeting took about 11.3 s.
    assert 2.0 <= message.audio_s <= HOLD_MS / 1000, message
    assert abs(message.duration_s - message.audio_s) <= 1.5, message
    assert rms(message) > 2000, "the recording is not the caller's tone"  # the tone: ~5,650
    count = len(pod.inbox())
    wait_until(
        lambda: any(s.waiting and s.new == count for s in pod.desk.summaries()),
        10,
        what=f"an MWI NOTIFY with {count} new message(s)",
    )
    wait_until(lambda: pod.metric("new") == count, 10, what="the metric to count it")


def astdb_on_disk(run: RunDir, key: str) -> str | None:
    """The value astdb's file holds for `key` (what a kill -9 cannot take back), read-only."""
    path = run.path("db") / "astdb.sqlite3"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            row = db.execute("SELECT value FROM astdb WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def test_messages_and_astdb_survive_an_asterisk_restart_and_a_pod_restart(pod: Pod) -> None:
    """Kill Asterisk (the supervisor restarts it), then a whole new pod (new supervisor, new
    Asterisk, fresh emptyDirs) on the same persistent spool and astdb: the messages, their
    audio and an astdb key are all there, counted, and the phone is told on re-registering."""
    if not pod.inbox():
        pod.leave_message("before-restart")
    before = {m.wav.name: m.wav.read_bytes() for m in pod.box()}
    new = len(pod.inbox())
    assert "Updated database successfully" in pod.asterisk_cli("database put lab persisted yes")
    # Asterisk commits astdb writes from a sync thread, up to a second later: the kill below
    # comes once the key is on disk, or it tests that race rather than the volume.
    wait_until(lambda: astdb_on_disk(pod.run, "/lab/persisted"), 10, what="the key on disk")

    asterisk = netns.asterisk_pids(pod.lab.pod)
    assert asterisk
    os.kill(asterisk[0], signal.SIGKILL)
    wait_until(
        lambda: pod.supervisor.metric("asterisk_supervisor_asterisk_restarts_total") == 1,
        15,
        what="the crash counted",
    )
    pod.supervisor.wait_ready(40)
    assert {m.wav.name: m.wav.read_bytes() for m in pod.box()} == before, pod.box()
    wait_until(lambda: pod.metric("new") == new, 20, what="the count after the restart")

    # A pod restart: SIGTERM (drain, stop), the emptyDirs go, a new pod mounts the same volume.
    pod.supervisor.signal(signal.SIGTERM)
    assert pod.supervisor.wait(30) == 0
    for name in EPHEMERAL:
        shutil.rmtree(pod.run.path(name))
    pod.run.create()
    pod.start_supervisor()
    assert {m.wav.name: m.wav.read_bytes() for m in pod.box()} == before, pod.box()
    assert "Value: yes" in pod.asterisk_cli("database get lab persisted")
    wait_until(lambda: pod.metric("new") == new, 20, what="the count in the new pod")
    seen = len(pod.desk.summaries())
    pod.desk.register()
    wait_until(
        lambda: any(s.waiting and s.new == new for s in pod.desk.summaries()[seen:]),
        20,
        what="MWI from the new pod",
    )


def test_access_extension_with_the_right_pin_plays_the_box_and_a_wrong_pin_is_refused(
    pod: Pod,
) -> None:
    """*97 from the desk: a wrong PIN leaves the box closed; the right PIN then the play key
    plays the first message, which moves to Old (the phone's MWI and the metric follow); *98
    from the kitchen reaches box 11 with box 11's number and PIN."""
    if not pod.inbox():
        pod.leave_message("for-access")
    new, old = len(pod.inbox()), len(pod.box()) - len(pod.inbox())
    wrong = "0000" if pod.pin() != "0000" else "9999"
    call = dial_with_dtmf(
        pod.lab,
        pod.run,
        "desk",
        pod.password(),
        "*97",
        [(1.5, wrong + "#")],
        after_s=2.5,
        name="wrong-pin",
    )
    assert call.wait(60) == 0, call.output()[-2000:]
    assert len(pod.inbox()) == new, "a wrong PIN opened the box"

    seen = len(pod.desk.summaries())
    call = dial_with_dtmf(
        pod.lab,
        pod.run,
        "desk",
        pod.password(),
        "*97",
        [(1.5, pod.pin() + "#"), (4.0, "1")],
        after_s=7.0,
        name="right-pin",
    )
    assert call.wait(60) == 0, call.output()[-2000:]
    wait_until(lambda: len(pod.inbox()) == new - 1, 5, what="the message to move to Old")
    assert len(pod.box()) - len(pod.inbox()) == old + 1
    wait_until(
        lambda: any(s.new == new - 1 and s.old == old + 1 for s in pod.desk.summaries()[seen:]),
        10,
        what="the MWI NOTIFY after listening",
    )
    wait_until(lambda: pod.metric("old") == old + 1, 10, what="the metric's old count")

    # *98 from another phone (the kitchen's): box 11 by its number, then box 11's PIN, then 7
    # deletes the current message (the box opens on Old when nothing is new).
    total = len(pod.box())
    call = dial_with_dtmf(
        pod.lab,
        pod.run,
        "kitchen",
        pod.secrets["kitchen-password"].strip(),
        "*98",
        [(1.5, DESK_BOX + "#"), (2.0, pod.pin() + "#"), (5.0, "7")],
        after_s=2.0,
        name="other-box",
    )
    assert call.wait(60) == 0, call.output()[-2000:]
    wait_until(lambda: len(pod.box()) == total - 1, 5, what="box 11's message deleted via *98")


def test_a_read_only_spool_is_refused_at_start(pod: Pod, tmp_path: Path) -> None:
    """A spool on a read-only filesystem (no volume mounted on a read-only root) makes the
    supervisor exit 1 naming the path, before Asterisk starts."""
    run = RunDir(pod.run.rootfs, f"{pod.lab.prefix}-ro").create()
    spool = run.path("spool")
    subprocess.run(["mount", "--bind", str(spool), str(spool)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(spool)], check=True)
        sup = SupervisorRun(pod.lab, run, site(), pod.secrets).start()
        try:
            code = sup.wait(30)
        finally:
            sup.stop()
        out = sup.output()
        assert code == 1, out[-2000:]
        assert f"{run.inside(spool)} is on a read-only filesystem" in out
        assert "Asterisk fully booted" not in out
    finally:
        subprocess.run(["umount", "-l", str(spool)], check=False)
        run.remove()


def test_live_voicemail_changes_reload_app_voicemail_only_and_are_read_back(pod: Pod) -> None:
    """A limit changed in the ConfigMap and a PIN changed in the Secret go live like every other
    change: voicemail.conf rewritten, only app_voicemail reloaded, read back, hash live."""
    sup = pod.supervisor
    module = {"module": "app_voicemail.so"}

    def reloads(labels: dict[str, str]) -> float:
        return sup.metric("asterisk_supervisor_reloads_total", labels) or 0.0

    def live(digest: str) -> bool:
        return sup.metric("asterisk_supervisor_config_info", {"hash": digest}) == 1

    def mounts_hash() -> str:
        return content_hash([read_mount(sup.config_mount), read_mount(sup.secret_mount)])

    before_vm, before_pjsip = reloads(module), reloads({"module": "res_pjsip.so"})
    original = site()
    changed = dict(original)
    changed["site.yaml"] = original["site.yaml"].replace("max_messages: 100", "max_messages: 42")
    assert changed != original
    new_pin = "24680" if pod.pin() != "24680" else "13579"
    try:
        sup.update_site(changed)
        digest = mounts_hash()
        wait_until(lambda: live(digest), 10, what="the limit change live")
        assert reloads(module) == before_vm + 1
        assert "maxmsg = 42" in (pod.run.path("etc") / "voicemail.conf").read_text()
        write_mount(sup.secret_mount, {**pod.secrets, "desk-voicemail-pin": new_pin}, mode=0o600)
        digest = mounts_hash()
        wait_until(lambda: live(digest), 10, what="the PIN change live")
        assert reloads(module) == before_vm + 2
        assert f"11 => {new_pin},desk" in (pod.run.path("etc") / "voicemail.conf").read_text()
        assert reloads({"module": "res_pjsip.so"}) == before_pjsip  # nothing else reloaded
        assert sup.metric("asterisk_supervisor_last_reload_successful") == 1
        # A new box number changes the phone's MWI box and its *97 box too: res_pjsip and the
        # dialplan reload with app_voicemail, and the endpoint's mailboxes/set_var are read back.
        renumbered = dict(changed)
        renumbered["site.yaml"] = changed["site.yaml"].replace(
            "voicemail: {pin_secret: desk-voicemail-pin}",
            'voicemail: {pin_secret: desk-voicemail-pin, number: "19"}',
        )
        assert renumbered != changed
        sup.update_site(renumbered)
        digest = mounts_hash()
        wait_until(lambda: live(digest), 10, what="the new box number live")
        assert reloads({"module": "res_pjsip.so"}) == before_pjsip + 1
        assert "mailboxes = 19@default" in (pod.run.path("etc") / "pjsip.conf").read_text()
    finally:
        write_mount(sup.secret_mount, pod.secrets, mode=0o600)
        sup.update_site(original)
        digest = mounts_hash()
        wait_until(lambda: live(digest), 10, what="the original config live again")


def test_a_phone_that_subscribes_gets_its_message_summary(pod: Pod) -> None:
    """The kitchen phone SUBSCRIBEs to message-summary (RFC 3842): Asterisk accepts it and
    NOTIFYs the box's counts, and again when the phone unsubscribes."""
    box = messages(pod.spool, "12")
    new = len([m for m in box if m.folder == "INBOX"])
    got = subscribe_mwi(pod.lab, pod.run, "kitchen", pod.secrets["kitchen-password"].strip())
    assert len(got) >= 2, got
    assert all((s.waiting, s.new, s.old) == (new > 0, new, len(box) - new) for s in got), got
