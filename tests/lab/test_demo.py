"""The README's run command: a whole PBX pod (supervisor, Asterisk, provider, phones, doorbell)
that registers its trunk, answers doorbell calls, counts them, and leaves nothing behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab import netns
from lab.paths import REPO

pytestmark = pytest.mark.lab


def test_demo_places_three_answered_calls_and_tears_down(rootfs: Path) -> None:
    """`python -m lab --calls 3`: trunk registered, TLS served and used, a voicemail message left
    and signalled, 3 calls counted with audio both ways (no loss, no one-way), nothing left."""
    done = subprocess.run(
        [sys.executable, "-m", "lab", "--calls", "3", "--interval", "1", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "trunk 'provider' registered" in out
    # The throw-away certificate is served (the supervisor's handshake) and a phone uses TLS.
    assert re.search(r"TLS on \S+:5061 serves the Secret's certificate sha256 [0-9a-f]{16}", out)
    assert "kitchen phone registered over TLS (port 5061)" in out
    # The voicemail part: a message left with audio, counted, and the desk phone's MWI.
    assert re.search(
        r"the caller left a \d+\.\d s message in box 11 \(spool/voicemail/default/11/INBOX/"
        r"msg0000\.wav\), counted by asterisk_supervisor_voicemail_messages"
        r'\{mailbox="desk",folder="new"\} = 1',
        out,
    ), out
    assert "desk phone registered: message waiting (NOTIFY message-summary: 1 new, 0 old)" in out
    assert re.search(
        r"summary: 3 doorbell calls placed \(3 answered by sipp's account\), 3 counted by the "
        r"supervisor's metrics \(3 answered\)",
        out,
    ), out
    assert "every placed call was counted, each once" in out
    # explain's prediction for a blocklisted caller, next to the real call it predicts.
    assert "screening: +4915100000001 is blocklist[0]: hangup:busy" in out
    assert (
        "the real call: the provider called +4930123458 from 015100000001: SIP 486 "
        "(as predicted)" in out
    )
    assert "Traceback" not in out
    assert "doorbell call 3: answered, audio both ways" in out
    # The history of its own calls, from the record: the three doorbell calls (to 100) and
    # the voicemail call from the provider.
    history = out.split("call history (asterisk-supervisor calls --since 1h):", 1)[1]
    assert len(re.findall(r"internal\s+-\s+\S+\s+100\s+\S+\s+0:0\d\s+answered", history)) == 3
    # The message really left (VoiceMail's VMSTATUS on the record), not just the box reached.
    assert re.search(r"inbound\s+provider\s+\S+\s+\+4930123457\s+.*answered \(voicemail\)", history)
    assert re.search(
        r"audio: 3 calls with RTP statistics, mean received loss 0\.\d %, 0 one-way", out
    )
    prefix = re.search(r"lab prefix (\S+)", out)
    assert prefix is not None
    assert "demo: torn down" in out
    assert netns.namespaces_with_prefix(prefix.group(1)) == []
    assert prefix.group(1) not in Path("/proc/mounts").read_text()
    assert not (rootfs / "srv" / "asterisk-lab" / f"{prefix.group(1)}-demo").exists()


def test_swap_publishes_an_edited_site_as_kubelet_does(tmp_path: Path) -> None:
    """`python -m lab swap MOUNT SRC` (the README's walkthrough) replaces the mount's content in
    one `..data` swap that the supervisor's mount reader sees whole."""
    from lab.kubelet import write_mount
    from supervisor.site.mounts import read_mount

    mount, source = tmp_path / "mount", tmp_path / "edited"
    write_mount(mount, {"site.yaml": "old: 1\n"})
    source.mkdir()
    (source / "site.yaml").write_text("new: 2\n")
    done = subprocess.run(
        [sys.executable, "-m", "lab", "swap", str(mount), str(source)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    snapshot = read_mount(mount)
    assert snapshot.live
    assert dict(snapshot.files) == {"site.yaml": b"new: 2\n"}
