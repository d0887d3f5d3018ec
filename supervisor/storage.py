"""The persistent paths: where Asterisk keeps what must survive a pod restart (voicemail, astdb,
recordings), checked before Asterisk starts.

Asterisk does not fail when its spool cannot be written: it answers the call, plays the greeting
and loses the message. So the supervisor refuses to start instead (exit 1, one line saying which
path and why) when a persistent path is missing, on a read-only filesystem (the container's root:
no volume is mounted there), or not writable by the user Asterisk runs as (uid 101 in the image).
The checks read the file system only: no probe files, so a correct volume is never touched.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class RunUser:
    """Who Asterisk runs as: its uid, its primary group `gid` (the group of the config files it
    reads) and every gid it has (primary and supplementary)."""

    uid: int
    gid: int
    gids: frozenset[int]

    @classmethod
    def current(cls) -> RunUser:
        return cls(uid=os.getuid(), gid=os.getgid(), gids=frozenset({os.getgid(), *os.getgroups()}))

    @classmethod
    def from_root(cls, root: Path, name: str) -> RunUser:
        """The user `name` of the tree at `root` (its /etc/passwd and /etc/group)."""
        uid = gid = None
        for line in (root / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) > 3 and fields[0] == name:
                uid, gid = int(fields[2]), int(fields[3])
        if uid is None or gid is None:
            raise PersistenceError(f"user {name!r} not found in {root / 'etc' / 'passwd'}")
        gids = {gid}
        group_file = root / "etc" / "group"
        if group_file.exists():
            for line in group_file.read_text().splitlines():
                fields = line.split(":")
                if len(fields) > 3 and name in fields[3].split(","):
                    gids.add(int(fields[2]))
        return cls(uid=uid, gid=gid, gids=frozenset(gids))


class PersistenceError(Exception):
    """A persistent path cannot keep Asterisk's data: the message says which and why."""


def writable_by(mode: os.stat_result, user: RunUser) -> bool:
    """Whether `user` may create files in a directory with this stat (owner, group, other bits;
    root may always)."""
    if user.uid == 0:
        return True
    needed = stat.S_IWUSR | stat.S_IXUSR
    if mode.st_uid == user.uid:
        return mode.st_mode & needed == needed
    if mode.st_gid in user.gids:
        return mode.st_mode & (stat.S_IWGRP | stat.S_IXGRP) == stat.S_IWGRP | stat.S_IXGRP
    return mode.st_mode & (stat.S_IWOTH | stat.S_IXOTH) == stat.S_IWOTH | stat.S_IXOTH


def problem(path: Path, shown: str, user: RunUser) -> str | None:
    """Why `path` (our view; `shown` is Asterisk's) cannot hold persistent data, or None."""
    try:
        info = path.stat()
    except OSError as exc:
        return f"{shown} cannot be used ({exc.strerror}): mount the persistent volume there"
    if not stat.S_ISDIR(info.st_mode):
        return f"{shown} is not a directory"
    if os.statvfs(path).f_flag & os.ST_RDONLY:
        return (
            f"{shown} is on a read-only filesystem (the container's root, so no volume is "
            "mounted there): mount the PersistentVolumeClaim at it"
        )
    if not writable_by(info, user):
        return (
            f"{shown} is not writable by uid {user.uid} (owner {info.st_uid}, group "
            f"{info.st_gid}, mode {stat.S_IMODE(info.st_mode):o}): give the volume to that user "
            "(fsGroup in the pod's securityContext)"
        )
    return None


def check_persistent(paths: Iterable[tuple[Path, str]], user: RunUser) -> None:
    """Raise PersistenceError naming every persistent path (our view, Asterisk's view) that
    cannot keep Asterisk's data."""
    found = [p for path, shown in dict(paths).items() if (p := problem(path, shown, user))]
    if found:
        raise PersistenceError(
            "messages and astdb would not survive: " + "; ".join(dict.fromkeys(found))
        )
