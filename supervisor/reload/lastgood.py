"""The last good config, kept on the persistent volume: the mounts' content of the config that
was last made live, so that a supervisor started while the mounted site is invalid (a pod
restart with a bad ConfigMap, a new supervisor beside a running Asterisk in sidecar mode) can
start on it instead of refusing to start (docs/reload.md).

What is kept is the source (every mount's files, the Secret's and audio files included), not the
rendered files: those hold the AMI secret of the boot that rendered them, and a new supervisor
renders with its own. One JSON document (file contents in base64), replaced atomically (temp
file, fsync, rename), mode 0600: it holds the Secret's values, readable by the supervisor's user
only. Its content hash is checked when it is read, so a torn or edited file is refused, never
half used.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from supervisor.files import write_atomic
from supervisor.reload.mounts import Snapshot
from supervisor.site.limits import MAX_AUDIO_DIR_BYTES, MAX_DIR_BYTES
from supervisor.site.mounts import Mount, content_hash

FORMAT = 1
MODE = 0o600
#: A mount holds at most MAX_DIR_BYTES of text and (a config mount) MAX_AUDIO_DIR_BYTES of audio;
#: base64 adds a third. Room for four mounts; anything larger was not written by us: refused
#: unread.
MAX_BYTES = 4 * 2 * (MAX_DIR_BYTES + MAX_AUDIO_DIR_BYTES)


class LastGoodUnusable(Exception):
    """The kept config cannot be read back: the message names the file and why."""


@dataclass(frozen=True)
class LastGood:
    """The kept snapshot's file (on the spool volume, beside the ban list)."""

    path: Path

    def save(self, snapshot: Snapshot) -> None:
        """Keep `snapshot` (a config that went live). Raises OSError when it cannot be written."""
        document = {
            "format": FORMAT,
            "hash": snapshot.hash,
            "config": [_mount(m) for m in snapshot.config],
            "secrets": [_mount(m) for m in snapshot.secrets],
        }
        # Not 0700: the directory is shared (the voicemail e-mail queue below it is Asterisk's
        # to write); the file's own mode keeps it private.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(document, ensure_ascii=False, sort_keys=True).encode()
        write_atomic(self.path, data, mode=MODE)

    def load(self) -> Snapshot | None:
        """The kept snapshot; None when there is none (first boot). Raises LastGoodUnusable."""
        try:
            with self.path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > MAX_BYTES:
                    raise self._unusable(f"is larger than {MAX_BYTES} bytes")
                data = handle.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unusable(f"cannot be read: {exc.strerror or exc}") from None
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise self._unusable(f"has format {document.get('format')!r}, not {FORMAT}")
            config = tuple(_unmount(m) for m in document["config"])
            secrets = tuple(_unmount(m) for m in document["secrets"])
            kept = str(document["hash"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._unusable(f"is not a kept config ({type(exc).__name__}: {exc})") from None
        digest = content_hash([*config, *secrets])
        if digest != kept:
            raise self._unusable("does not match its own content hash (torn or edited)")
        return Snapshot(config, secrets, digest)

    def _unusable(self, why: str) -> LastGoodUnusable:
        return LastGoodUnusable(f"the last good config {self.path} {why}")


def _mount(mount: Mount) -> dict[str, Any]:
    # base64: a config mount's audio files are bytes, not text.
    files = {name: base64.b64encode(content).decode() for name, content in mount.files.items()}
    return {"path": str(mount.path), "files": files}


def _unmount(entry: dict[str, Any]) -> Mount:
    files = entry["files"]
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise TypeError("files must map names to base64 texts")
    try:
        decoded = {name: base64.b64decode(text, validate=True) for name, text in files.items()}
    except binascii.Error as exc:
        raise ValueError(f"a file is not base64: {exc}") from None
    return Mount(path=Path(entry["path"]), files=MappingProxyType(decoded), live=True)
