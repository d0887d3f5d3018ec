"""The mail queue on the spool volume: one `*.eml` file per e-mail, written by `enqueue.sh`
(app_voicemail's mailcmd), read and removed by the delivery; `drop.REASON.*` markers are the
messages the script refused. Names start with the enqueue time in nanoseconds, so name order is
arrival order. Every listing is one directory scan and a sort (n log n, n bounded by the
site's `max_queued`)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

#: Why the enqueue script refused a message (the `reason` label: a fixed set).
DROP_REASONS = ("full", "too_large", "error")
#: Why the delivery gave a message up (it stays in the voicemail box either way).
GIVE_UP_REASONS = ("no_recipient", "rejected")
#: A hidden temporary file this old was left by an enqueue that was killed.
STALE_TMP_S = 3600.0


@dataclass(frozen=True)
class Queued:
    path: Path
    enqueued: float  # seconds since the epoch


class MailQueue:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def create(self, owner: tuple[int, int] | None) -> None:
        """The directory, private (mode 0700: messages are the users' data), owned by `owner`
        (Asterisk's user and group, when we run as root and Asterisk does not)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        if owner is not None:
            os.chown(self.directory, *owner)

    def pending(self) -> list[Queued]:
        """The queued e-mails, oldest first."""
        found: list[Queued] = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.endswith(".eml") and not entry.name.startswith("."):
                found.append(Queued(Path(entry.path), _stamp(entry.name)))
        found.sort(key=lambda q: (q.enqueued, q.path.name))
        return found

    def take_drops(self, now: float) -> list[str]:
        """The refusals the script recorded since the last call (markers removed), each a
        reason of DROP_REASONS; temporary files older than STALE_TMP_S at `now` (epoch
        seconds) are removed on the way."""
        reasons: list[str] = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith("drop."):
                reason = entry.name.split(".")[1]
                reasons.append(reason if reason in DROP_REASONS else "error")
                _unlink(Path(entry.path))
            elif entry.name.startswith(".tmp."):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime + STALE_TMP_S < now:
                        _unlink(Path(entry.path))
        return reasons

    @staticmethod
    def remove(queued: Queued) -> None:
        _unlink(queued.path)


def _stamp(name: str) -> float:
    try:
        return int(name.split(".", 1)[0]) / 1e9
    except ValueError:
        return 0.0


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
