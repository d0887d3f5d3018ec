"""Asterisk's config directory: read the live files, replace files atomically, restore them.

Each file is written to a temporary name in the same directory, fsynced, given mode 0640 and
Asterisk's group, then renamed over the live name: a reader sees the old or the new file, never a
partial one. The directory is fsynced after the renames.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

MODE = 0o640


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

    def changed(
        self, files: Mapping[str, str], managed: Iterable[str] = ()
    ) -> dict[str, str | None]:
        """The files whose content differs from `files`; managed files no longer rendered map
        to None (to be removed)."""
        live = self.read(set(files) | set(managed))
        out: dict[str, str | None] = {}
        for name, text in files.items():
            if live.get(name) != text.encode():
                out[name] = text
        for name in managed:
            if name not in files and live.get(name) is not None:
                out[name] = None
        return out

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
            tmp = self.path / f".{name}.supervisor-tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, MODE)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                    os.fchmod(fd, MODE)
                    if self.gid is not None:
                        os.fchown(fd, -1, self.gid)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, target)
            except OSError:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise
        dir_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"not a plain config file name: {name!r}")
