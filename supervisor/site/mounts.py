"""Reading a configuration directory: a kubelet ConfigMap/Secret mount or a plain directory.

A kubelet mount holds `..<timestamp>/` with the real files, a `..data` symlink to it that the
kubelet swaps atomically on update, and one `key -> ..data/key` symlink per key. Resolving `..data`
once and reading the files under its target gives one consistent snapshot even while an update
swaps it. A plain directory (or a subPath mount: no `..data`) is read as is and never updates live.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from supervisor.site.audio import is_audio_name
from supervisor.site.errors import Problem
from supervisor.site.limits import (
    MAX_AUDIO_BYTES,
    MAX_AUDIO_DIR_BYTES,
    MAX_DIR_BYTES,
    MAX_ENTRIES_PER_DIR,
    MAX_FILE_BYTES,
    MAX_SYMLINK_HOPS,
)

DEFAULT_MAX_FILE_BYTES = MAX_FILE_BYTES
DATA_LINK = "..data"
#: How many times a read is repeated when `..data` moved while it ran. The kubelet deletes the old
#: timestamped directory right after the swap, so a read that resolved the old target can find its
#: files gone; the next read sees the new target. A mount swapped faster than this many reads
#: yields the last (possibly torn) read: a rejected config, retried at the next watch event.
MAX_READ_ATTEMPTS = 5


@dataclass(frozen=True)
class Mount:
    """One resolved snapshot of a mount: `files` maps key -> content of the readable text files."""

    path: Path
    files: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    live: bool = False
    problems: tuple[Problem, ...] = ()
    #: Why nothing of the mount could be read (missing, not a directory, broken ..data), if so.
    unreadable: str | None = None
    #: Keys that are directories (skipped: a key is a file).
    directories: frozenset[str] = frozenset()
    #: Where `..data` pointed when the read began (a live mount), to tell a read torn by a swap.
    data_target: str | None = field(default=None, compare=False)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _problem(path: Path, message: str) -> Problem:
    return Problem(file=str(path), line=None, key="", message=message)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return f"is a symlink loop (or a chain of more than {MAX_SYMLINK_HOPS} links)"
    return f"cannot be read: {exc.strerror or exc}"


def _resolve(path: Path) -> Path:
    """The real path of `path`; OSError (ELOOP for a loop, as the kernel reports it after
    40 links) if it cannot be resolved. Never RuntimeError, unlike Path.resolve."""
    os.stat(path)  # the kernel follows the links, with its own bound
    return Path(os.path.realpath(path, strict=True))


def _unreadable(path: Path, message: str, *, live: bool = False) -> Mount:
    return Mount(path=path, live=live, problems=(_problem(path, message),), unreadable=message)


def _read_one(
    entry: Path, *, root: Path, max_file_bytes: int, binary: bool = False
) -> tuple[bytes | None, Problem | None]:
    """The content of one entry, or a problem; (None, None) for what is not a file (directories).
    `binary`: an audio file (site/audio.py checks it), not UTF-8 text."""
    try:
        if entry.is_symlink():
            target = _resolve(entry)
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
        return None, _problem(entry, _reason(exc))
    if len(content) > max_file_bytes:
        return None, _problem(entry, f"is larger than the limit of {max_file_bytes} bytes")
    if binary:
        return content, None
    if b"\0" in content:
        return None, _problem(entry, "is binary (contains NUL bytes); only UTF-8 text is accepted")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, _problem(entry, f"is not UTF-8 text (byte {exc.start})")
    return content, None


def read_mount(
    path: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, audio: bool = False
) -> Mount:
    """Read one consistent snapshot of the mount at `path`; dot-entries are ignored. A read
    during which `..data` moved is read again (at most MAX_READ_ATTEMPTS times in all).
    `audio`: a config directory, whose audio files (site/audio.py) are read as bytes; in any
    other (a Secret) every file is text."""
    path = Path(path)
    mount = _read_once(path, max_file_bytes, audio)
    for _ in range(MAX_READ_ATTEMPTS - 1):
        if not mount.live or _data_target(path) == mount.data_target:
            break
        mount = _read_once(path, max_file_bytes, audio)
    return mount


def _data_target(path: Path) -> str | None:
    """Where `..data` points now (the link's text), or None if it cannot be read."""
    try:
        return os.readlink(path / DATA_LINK)
    except OSError:
        return None


def _read_once(path: Path, max_file_bytes: int, audio: bool) -> Mount:
    """One read, with where `..data` pointed when it began (so a move during it shows)."""
    seen = _data_target(path)
    mount = _read_snapshot(path, max_file_bytes, audio)
    return replace(mount, data_target=seen) if mount.live else mount


def _read_snapshot(path: Path, max_file_bytes: int, audio_dir: bool) -> Mount:
    problems: list[Problem] = []
    try:
        root = _resolve(path)
    except OSError as exc:
        return _unreadable(path, _reason(exc))
    if not root.is_dir():
        return _unreadable(path, "is not a directory")
    data_link = root / DATA_LINK
    live = os.path.lexists(data_link)
    source = root
    if live:
        try:
            source = _resolve(data_link)
        except OSError as exc:
            return _unreadable(data_link, _reason(exc), live=True)
        if not _inside(source, root) or not source.is_dir():
            return _unreadable(
                data_link, "does not point to a directory inside the mount", live=True
            )
    files: dict[str, bytes] = {}
    directories: set[str] = set()
    try:
        names = _list(source)
    except OSError as exc:
        return _unreadable(path, _reason(exc), live=live)
    if len(names) > MAX_ENTRIES_PER_DIR:
        return _unreadable(path, f"holds more than {MAX_ENTRIES_PER_DIR:,} entries", live=live)
    total = audio_total = 0
    for name in names:
        if not _is_utf8(name):
            # The kubelet never writes such a key; a hand-made directory might. Shown escaped
            # (Problem escapes what is not printable), never used as a key.
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            problems.append(
                Problem(
                    file=str(path / shown),
                    line=None,
                    key="",
                    message="the file name is not UTF-8 text: rename it (the file is not read)",
                )
            )
            continue
        # Audio files (ConfigMap binaryData, or files on the volume) are bytes with their own
        # bounds: a file, and all of a directory's together.
        audio = audio_dir and is_audio_name(name)
        limit = MAX_AUDIO_BYTES if audio else max_file_bytes
        content, problem = _read_one(source / name, root=root, max_file_bytes=limit, binary=audio)
        if problem is not None:
            # Name the file as the user knows it: the key in the mount, not the timestamped dir.
            problems.append(
                Problem(file=str(path / name), line=None, key="", message=problem.message)
            )
        elif content is not None and audio:
            audio_total += len(content)
            if audio_total > MAX_AUDIO_DIR_BYTES:
                return _unreadable(
                    path,
                    f"holds more than {MAX_AUDIO_DIR_BYTES // 1024 // 1024} MiB of audio",
                    live=live,
                )
            files[name] = content
        elif content is not None:
            total += len(content)
            if total > MAX_DIR_BYTES:
                return _unreadable(
                    path, f"holds more than {MAX_DIR_BYTES // 1024 // 1024} MiB", live=live
                )
            files[name] = content
        else:
            directories.add(name)
    return Mount(
        path=path,
        files=MappingProxyType(files),
        live=live,
        problems=tuple(problems),
        directories=frozenset(directories),
    )


def _is_utf8(name: str) -> bool:
    """Whether a name from the file system is UTF-8 (undecodable bytes arrive as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _list(directory: Path) -> list[str]:
    """Sorted names of the non-dot entries; stops one past the limit (a huge directory is
    refused without listing it all)."""
    names = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.startswith("."):
                names.append(entry.name)
                if len(names) > MAX_ENTRIES_PER_DIR:
                    break
    return sorted(names)


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
