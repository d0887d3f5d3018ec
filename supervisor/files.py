"""Atomic file replacement: the one implementation (the live config directory, `render --out`).

The content goes to a temporary name in the same directory, is fsynced with its mode (and group)
set, then renamed over the target: a reader sees the old or the new file, never a partial one, and
a file that holds passwords is never readable by others, not even for a moment. `fsync_dir` makes
the renames durable.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_atomic(target: Path, data: bytes, *, mode: int, gid: int | None = None) -> None:
    tmp = target.with_name(f".{target.name}.supervisor-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, mode)  # the umask may have narrowed the creation mode
            if gid is not None:
                os.fchown(fd, -1, gid)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
