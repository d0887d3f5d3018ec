"""The enqueue script (app_voicemail's mailcmd, run by /bin/sh) and the queue it fills: one private
file per message, atomically; refusals when full or too large, counted once; oldest first."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from supervisor.mail import ENQUEUE_SCRIPT
from supervisor.mail.queue import STALE_TMP_S, MailQueue


def enqueue(queue: Path, message: bytes, *, max_messages: int = 3, max_bytes: int = 1000) -> int:
    argv = ["/bin/sh", str(ENQUEUE_SCRIPT), str(queue), str(max_messages), str(max_bytes)]
    return subprocess.run(argv, input=message, capture_output=True, check=False).returncode


def test_each_message_becomes_one_private_file_in_arrival_order(tmp_path: Path) -> None:
    """Three messages: three *.eml files (mode 0600) with the bytes as piped, oldest first."""
    queue = MailQueue(tmp_path / "mail")
    queue.create(None)
    assert os.stat(queue.directory).st_mode & 0o777 == 0o700
    for n in range(3):
        assert enqueue(queue.directory, f"message {n}\r\n".encode()) == 0
    pending = queue.pending()
    assert [q.path.read_bytes() for q in pending] == [f"message {n}\r\n".encode() for n in range(3)]
    assert all(os.stat(q.path).st_mode & 0o777 == 0o600 for q in pending)
    assert sorted(p.name for p in queue.directory.iterdir()) == sorted(q.path.name for q in pending)


def test_a_full_queue_and_a_large_message_are_refused_and_counted_once(tmp_path: Path) -> None:
    """Past max messages or max bytes the script exits 75 and leaves only a marker, taken once."""
    queue = MailQueue(tmp_path / "mail")
    queue.create(None)
    assert enqueue(queue.directory, b"x" * 1001) == 75  # one byte over
    assert enqueue(queue.directory, b"x" * 1000) == 0  # exactly the limit
    for _ in range(2):
        assert enqueue(queue.directory, b"fits") == 0
    assert enqueue(queue.directory, b"one too many") == 75
    assert len(queue.pending()) == 3
    assert sorted(queue.take_drops(now=0.0)) == ["full", "too_large"]
    assert queue.take_drops(now=0.0) == []
    assert not [p for p in queue.directory.iterdir() if p.name.startswith(".tmp")]


def test_a_killed_enqueue_leaves_no_message_and_its_temporary_file_goes(tmp_path: Path) -> None:
    """A half-written temporary file is never a message, and is removed once stale."""
    queue = MailQueue(tmp_path / "mail")
    queue.create(None)
    partial = queue.directory / ".tmp.1.2"
    partial.write_bytes(b"From: half")
    assert queue.pending() == []
    mtime = partial.stat().st_mtime
    queue.take_drops(now=mtime + STALE_TMP_S - 1)
    assert partial.exists()
    queue.take_drops(now=mtime + STALE_TMP_S + 1)
    assert not partial.exists()
