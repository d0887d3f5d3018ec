"""Write a mount directory the way kubelet's atomic_writer does (ConfigMap and Secret volumes).

Kubelet (`pkg/volume/util/atomic_writer.go`): write the payload into a new timestamped directory
`..<timestamp>`, point a `..data_tmp` symlink at it, rename that over `..data` (the atomic step),
make each key a symlink `key -> ..data/key`, remove keys that left the payload, then remove the old
timestamped directory. File mtimes need not change between versions: watchers must look at the
directory, not at the files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

DATA = "..data"
DATA_TMP = "..data_tmp"


def _timestamp() -> str:
    now = time.time()
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(now))
    return f"..{stamp}."


def _old_target(target: Path) -> str | None:
    try:
        return os.readlink(target / DATA)
    except FileNotFoundError:
        return None


def write_mount(
    target: Path,
    files: Mapping[str, str | bytes],
    *,
    mode: int = 0o644,
    symlinks: Mapping[str, str] | None = None,
    keep_mtime: float | None = None,
    group: int | None = None,
) -> Path:
    """Publish `files` (flat key -> content) in `target` as one atomic kubelet update.

    `symlinks` adds keys that are symlinks inside the payload (key -> link text), to build a
    hostile mount; `keep_mtime` stamps every file with that mtime, as kubelet may leave mtimes
    unchanged; `group` gives the payload to that group, as kubelet does for a pod's fsGroup
    (with `mode` 0o440: readable by the pod's group only). Returns the new timestamped directory.
    """
    target.mkdir(parents=True, exist_ok=True)
    old = _old_target(target)
    old_keys = set()
    if old is not None:
        old_keys = {p.name for p in (target / old).iterdir()}
    new_dir = Path(tempfile.mkdtemp(prefix=_timestamp(), dir=target))
    os.chmod(new_dir, 0o755)
    if group is not None:
        os.chown(new_dir, -1, group)
    for key, content in files.items():
        path = new_dir / key
        data = content.encode() if isinstance(content, str) else content
        with open(path, "wb") as out:
            out.write(data)
        os.chmod(path, mode)
        if group is not None:
            os.chown(path, -1, group)
        if keep_mtime is not None:
            os.utime(path, (keep_mtime, keep_mtime))
    for key, link in (symlinks or {}).items():
        os.symlink(link, new_dir / key)
    tmp_link = target / DATA_TMP
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(new_dir.name, tmp_link)
    os.rename(tmp_link, target / DATA)
    new_keys = set(files) | set(symlinks or {})
    for key in new_keys:
        visible = target / key
        if not visible.is_symlink():
            os.symlink(f"{DATA}/{key}", visible)
    for key in old_keys - new_keys:
        visible = target / key
        if visible.is_symlink():
            visible.unlink()
    if old is not None and old != new_dir.name:
        shutil.rmtree(target / old, ignore_errors=True)
    return new_dir


def write_subpath_style(target: Path, files: Mapping[str, str]) -> None:
    """Plain files without `..data`: what a subPath mount or a hand-made directory looks like."""
    target.mkdir(parents=True, exist_ok=True)
    for key, content in files.items():
        (target / key).write_text(content)
