"""The kubelet-style swap helper used by the reload tests, benchmark and demo."""

from __future__ import annotations

import os
from pathlib import Path

from lab.kubelet import DATA, write_mount
from supervisor.site.mounts import read_mount


def test_layout_and_swap(tmp_path: Path) -> None:
    """Keys are symlinks through ..data; a swap replaces ..data atomically, drops removed keys
    and the old timestamped directory."""
    mount = tmp_path / "m"
    first = write_mount(mount, {"a": "1", "b": "2"})
    assert os.readlink(mount / DATA) == first.name
    assert os.readlink(mount / "a") == f"{DATA}/a"
    second = write_mount(mount, {"a": "3"}, keep_mtime=0)
    assert not first.exists()
    assert os.readlink(mount / DATA) == second.name
    assert not (mount / "b").is_symlink()
    assert (mount / "a").read_text() == "3"
    snapshot = read_mount(mount)
    assert snapshot.live
    assert dict(snapshot.files) == {"a": b"3"}
    assert sorted(p.name for p in mount.iterdir()) == sorted([DATA, second.name, "a"])
