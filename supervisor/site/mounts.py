"""Reading a configuration directory: a kubelet ConfigMap/Secret mount or a plain directory.

A kubelet mount holds `..<timestamp>/` with the real files, a `..data` symlink to it that the
kubelet swaps atomically on update, and one `key -> ..data/key` symlink per key. Resolving `..data`
once and reading the files under its target gives one consistent snapshot even while an update
swaps it. A plain directory (or a subPath mount: no `..data`) is read as is and never updates live.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from supervisor.site.errors import Problem

MiB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = MiB
DATA_LINK = "..data"


@dataclass(frozen=True)
class Mount:
    """One resolved snapshot of a mount: `files` maps key -> content of the readable text files."""

    path: Path
    files: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    live: bool = False
    problems: tuple[Problem, ...] = ()


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _problem(path: Path, message: str) -> Problem:
    return Problem(file=str(path), line=None, key="", message=message)


def _read_one(
    entry: Path, *, root: Path, max_file_bytes: int
) -> tuple[bytes | None, Problem | None]:
    """The content of one entry, or a problem; (None, None) for what is not a file (directories)."""
    try:
        if entry.is_symlink():
            target = entry.resolve(strict=True)
            if not _inside(target, root):
                return None, _problem(entry, "is a symlink pointing outside the mount")
        else:
            target = entry
        info = target.stat()
        if stat.S_ISDIR(info.st_mode):
            return None, None
        if not stat.S_ISREG(info.st_mode):
            return None, _problem(entry, "is not a regular file")
        if info.st_size > max_file_bytes:
            return None, _problem(entry, f"is larger than the limit of {max_file_bytes} bytes")
        with target.open("rb") as handle:
            content = handle.read(max_file_bytes + 1)
    except OSError as exc:
        return None, _problem(entry, f"cannot be read: {exc.strerror or exc}")
    if len(content) > max_file_bytes:
        return None, _problem(entry, f"is larger than the limit of {max_file_bytes} bytes")
    if b"\0" in content:
        return None, _problem(entry, "is binary (contains NUL bytes); only UTF-8 text is accepted")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, _problem(entry, f"is not UTF-8 text (byte {exc.start})")
    return content, None


def read_mount(path: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Mount:
    """Read one consistent snapshot of the mount at `path`; dot-entries are ignored."""
    path = Path(path)
    problems: list[Problem] = []
    try:
        root = path.resolve(strict=True)
    except OSError as exc:
        return Mount(path=path, problems=(_problem(path, f"cannot be read: {exc.strerror}"),))
    if not root.is_dir():
        return Mount(path=path, problems=(_problem(path, "is not a directory"),))
    data_link = root / DATA_LINK
    live = os.path.lexists(data_link)
    source = root
    if live:
        try:
            source = data_link.resolve(strict=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return Mount(path=path, live=True, problems=(_problem(data_link, reason),))
        if not _inside(source, root) or not source.is_dir():
            return Mount(
                path=path,
                live=True,
                problems=(_problem(data_link, "does not point to a directory inside the mount"),),
            )
    files: dict[str, bytes] = {}
    try:
        names = sorted(os.listdir(source))
    except OSError as exc:
        return Mount(path=path, live=live, problems=(_problem(source, f"{exc.strerror}"),))
    for name in names:
        if name.startswith("."):
            continue
        content, problem = _read_one(source / name, root=root, max_file_bytes=max_file_bytes)
        if problem is not None:
            # Name the file as the user knows it: the key in the mount, not the timestamped dir.
            problems.append(
                Problem(file=str(path / name), line=None, key="", message=problem.message)
            )
        elif content is not None:
            files[name] = content
    return Mount(path=path, files=MappingProxyType(files), live=live, problems=tuple(problems))


def content_hash(mounts: Iterable[Mount]) -> str:
    """sha256 over every mount's sorted file names and contents (length-prefixed, unambiguous)."""
    digest = hashlib.sha256()
    for mount in mounts:
        digest.update(b"mount\0")
        for name in sorted(mount.files):
            encoded = name.encode("utf-8")
            content = mount.files[name]
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
            digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()
