"""Reading kubelet ConfigMap/Secret mounts and plain directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from supervisor.site.mounts import Mount, content_hash, read_mount


def make_kubelet_mount(
    root: Path, files: dict[str, bytes], stamp: str = "..2026_11_25_16_00_00.1"
) -> Path:
    """Lay out a directory the way the kubelet does: timestamped dir, ..data link, key links."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / stamp
    data.mkdir()
    for name, content in files.items():
        (data / name).write_bytes(content)
    tmp = root / "..data_tmp"
    os.symlink(stamp, tmp)
    os.replace(tmp, root / "..data")
    for name in files:
        if not os.path.lexists(root / name):
            os.symlink(f"..data/{name}", root / name)
    return root


def test_kubelet_mount_reads_the_data_snapshot(tmp_path: Path) -> None:
    """A kubelet mount is read through ..data, is live, and dot-entries are ignored."""
    root = make_kubelet_mount(tmp_path / "m", {"site.yaml": b"a: 1\n", "extra.yaml": b"b: 2\n"})
    mount = read_mount(root)
    assert mount.live
    assert dict(mount.files) == {"extra.yaml": b"b: 2\n", "site.yaml": b"a: 1\n"}
    assert mount.problems == ()


def test_swapped_data_link_gives_the_new_snapshot_only(tmp_path: Path) -> None:
    """After the kubelet swaps ..data, only the new snapshot's files are read (old keys vanish)."""
    root = make_kubelet_mount(tmp_path / "m", {"site.yaml": b"old\n", "gone.yaml": b"x\n"})
    make_kubelet_mount(root, {"site.yaml": b"new\n"}, stamp="..2026_11_25_16_05_00.2")
    assert dict(read_mount(root).files) == {"site.yaml": b"new\n"}


def test_plain_directory_is_not_live(tmp_path: Path) -> None:
    """A plain directory is read as is and reported as not updating live."""
    (tmp_path / "site.yaml").write_bytes(b"a: 1\n")
    (tmp_path / ".hidden").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    mount = read_mount(tmp_path)
    assert not mount.live
    assert dict(mount.files) == {"site.yaml": b"a: 1\n"}


def test_bad_files_are_problems_naming_the_file(tmp_path: Path) -> None:
    """Oversized, binary, non-UTF-8 and outside-pointing files are problems that name the file."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    root = tmp_path / "m"
    root.mkdir()
    (root / "big.yaml").write_bytes(b"x" * 101)
    (root / "nul.yaml").write_bytes(b"a\0b")
    (root / "latin.yaml").write_bytes(b"caf\xe9")
    (root / "ok.yaml").write_bytes(b"ok")
    os.symlink(outside, root / "escape.yaml")
    mount = read_mount(root, max_file_bytes=100)
    assert dict(mount.files) == {"ok.yaml": b"ok"}
    by_file = {Path(p.file).name: p.message for p in mount.problems}
    assert set(by_file) == {"big.yaml", "nul.yaml", "latin.yaml", "escape.yaml"}
    assert "larger" in by_file["big.yaml"]
    assert "binary" in by_file["nul.yaml"]
    assert "UTF-8" in by_file["latin.yaml"]
    assert "outside" in by_file["escape.yaml"]


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    """A file that cannot be opened (dangling link; root reads anything) is reported, not raised."""
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere")
    mount = read_mount(tmp_path)
    assert [Path(p.file).name for p in mount.problems] == ["dangling.yaml"]


def test_missing_directory_is_a_problem(tmp_path: Path) -> None:
    """A mount path that does not exist gives one problem and no files."""
    mount = read_mount(tmp_path / "absent")
    assert mount.files == {}
    assert len(mount.problems) == 1


def test_content_hash_follows_names_and_contents(tmp_path: Path) -> None:
    """The hash changes with a name or a content and is independent of the mount's path."""
    a = Mount(path=tmp_path / "a", files={"x": b"1"})
    b = Mount(path=tmp_path / "b", files={"x": b"1"})
    assert content_hash([a]) == content_hash([b])
    assert content_hash([a]) != content_hash([Mount(path=tmp_path, files={"y": b"1"})])
    assert content_hash([a]) != content_hash([Mount(path=tmp_path, files={"x": b"2"})])
    # Moving a file between mounts changes the hash (mount boundaries count).
    assert content_hash([a, Mount(path=tmp_path)]) != content_hash([Mount(path=tmp_path), a])


def test_a_swap_during_the_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kubelet swap (and removal of the old directory) in the middle of a read gives the new
    snapshot, not 'cannot be read: No such file or directory' for the vanished old files."""
    import shutil

    from supervisor.site import mounts

    root = make_kubelet_mount(tmp_path / "m", {"site.yaml": b"old\n"})
    real_list = mounts._list
    swapped: list[bool] = []

    def list_then_swap(directory: Path) -> list[str]:
        names = real_list(directory)
        if not swapped:  # the kubelet's swap lands between the listing and the reads
            swapped.append(True)
            old = os.readlink(root / "..data")
            make_kubelet_mount(root, {"site.yaml": b"new\n"}, stamp="..2026_11_25_16_00_01.2")
            shutil.rmtree(root / old)
        return names

    monkeypatch.setattr(mounts, "_list", list_then_swap)
    mount = read_mount(root)
    assert swapped
    assert mount.problems == ()
    assert dict(mount.files) == {"site.yaml": b"new\n"}
