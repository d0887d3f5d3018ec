"""Asterisk's config directory: read the live files, replace files atomically, restore them.

Each file is replaced by `files.write_atomic` (temp file, fsync, mode 0640 and Asterisk's group,
rename); the directory is fsynced after the renames.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from supervisor.files import fsync_dir, write_atomic
from supervisor.render.audio import AUDIO_DIR

MODE = 0o640
#: The audio directory: Asterisk's group may list and read it.
DIR_MODE = 0o750


@dataclass(frozen=True)
class ConfigDir:
    """Where Asterisk reads its config; `gid` is Asterisk's group (None: leave the group)."""

    path: Path
    gid: int | None = None

    def read(self, names: Iterable[str]) -> dict[str, bytes | None]:
        """Current content of each name (None if absent)."""
        out: dict[str, bytes | None] = {}
        for name in names:
            try:
                out[name] = (self.path / name).read_bytes()
            except FileNotFoundError:
                out[name] = None
        return out

    def read_text(self, names: Iterable[str]) -> dict[str, str | None]:
        """Current text of each name (None if absent; undecodable bytes replaced, so such a
        file never equals a rendered one and is rewritten)."""
        return {
            name: None if data is None else data.decode(errors="replace")
            for name, data in self.read(names).items()
        }

    def write(self, files: Mapping[str, str | bytes | None]) -> None:
        """Replace each file atomically (None removes it); fsync the directory at the end."""
        for name, content in files.items():
            _check_name(name)
            target = self.path / name
            if content is None:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                continue
            data = content.encode() if isinstance(content, str) else content
            write_atomic(target, data, mode=MODE, gid=self.gid)
        fsync_dir(self.path)

    @property
    def audio(self) -> Path:
        return self.path / AUDIO_DIR

    def audio_names(self) -> frozenset[str]:
        """The files in the audio directory now (none if it does not exist)."""
        try:
            return frozenset(p.name for p in self.audio.iterdir() if not p.name.startswith("."))
        except FileNotFoundError:
            return frozenset()

    def write_audio(self, files: Mapping[str, bytes]) -> None:
        """Write each audio file (content-addressed: a present name already holds the bytes)."""
        if not files:
            return
        self.audio.mkdir(mode=DIR_MODE, exist_ok=True)
        self.audio.chmod(DIR_MODE)
        if self.gid is not None:
            os.chown(self.audio, -1, self.gid)
        for name, data in files.items():
            _check_name(name)
            write_atomic(self.audio / name, data, mode=MODE, gid=self.gid)
        fsync_dir(self.audio)

    def remove_audio(self, names: Iterable[str]) -> None:
        """Remove these audio files (absent ones are no error)."""
        for name in names:
            _check_name(name)
            with contextlib.suppress(FileNotFoundError):
                (self.audio / name).unlink()


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"not a plain config file name: {name!r}")
