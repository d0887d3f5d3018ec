"""Bans persisted across supervisor and Asterisk restarts: one small JSON file, replaced
atomically (files.write_atomic), read back with expired and malformed entries
dropped and at most `limit` kept. A missing or unreadable file means no bans, with a warning:
losing the list must never stop the PBX."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from supervisor.files import fsync_dir, write_atomic
from supervisor.security.events import Key, network_text
from supervisor.security.policy import Ban

log = logging.getLogger(__name__)

VERSION = 2  # 2: sources are networks (an IPv6 /64, an IPv4 /32)
MODE = 0o640
MAX_BYTES = 64 * 1024 * 1024  # 100,000 bans take ~12 MB


class BanStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[Key, tuple[Ban, str]] = {}  # the last save's, by ban

    def load(self, now: float, limit: int) -> list[Ban]:
        try:
            if self.path.stat().st_size > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES} bytes")
            data = json.loads(self.path.read_text())
            entries = data["bans"] if isinstance(data, dict) else None
            if isinstance(data, dict) and data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
            if not isinstance(entries, list):
                raise ValueError("no list of bans")
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ban list %s unreadable (%s): starting without bans", self.path, exc)
            return []
        bans = []
        for entry in entries:
            try:
                ban = Ban(
                    source=ipaddress.ip_network(entry["source"]),
                    since=float(entry["since"]),
                    until=float(entry["until"]),
                    failures=int(entry["failures"]),
                    escalated=entry.get("escalated") is True,
                )
            except (TypeError, ValueError, KeyError):
                continue
            if ban.until > now:
                bans.append(ban)
        # The latest bans are the ones worth keeping when the limit shrank.
        return sorted(bans, key=lambda b: b.until)[-limit:]

    def save(self, bans: Iterable[Ban]) -> None:
        """Replace the file atomically; raises OSError (the caller logs and keeps running)."""
        # Entry by entry, not one json.dumps of the whole list: this runs in a worker thread,
        # and one C call over 10,000 entries held the GIL (and the event loop) for its whole
        # length. Each ban's entry is kept from the last save (bans do not change; a new ban
        # is a new object): a save under a flood formats only the bans new since.
        kept = self._entries
        entries: dict[Key, tuple[Ban, str]] = {}
        for b in bans:
            entry = kept.get(b.key)
            if entry is None or entry[0] is not b:
                entry = (b, _entry(b))
            entries[b.key] = entry
        self._entries = entries
        text = ",".join(e for _, e in entries.values())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = f'{{"version":{VERSION},"bans":[{text}]}}\n'
        write_atomic(self.path, text.encode(), mode=MODE)
        fsync_dir(self.path.parent)


def _entry(ban: Ban) -> str:
    # JSON as written: a network's text, floats (repr), an int, a boolean.
    return (
        f'{{"source":"{network_text(ban.source, ban.key)}","since":{ban.since!r},'
        f'"until":{ban.until!r},"failures":{ban.failures:d},'
        f'"escalated":{"true" if ban.escalated else "false"}}}'
    )
