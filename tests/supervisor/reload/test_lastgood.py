"""The last good config kept on the volume: written whole and private, read back only intact."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from lab import sites
from lab.kubelet import write_mount
from supervisor.reload import Mounts
from supervisor.reload.lastgood import MAX_BYTES, LastGood, LastGoodUnusable
from supervisor.reload.mounts import Snapshot
from supervisor.site.mounts import Mount, content_hash


def mounts(tmp_path: Path) -> Mounts:
    write_mount(tmp_path / "site", sites.site_files(sites.home()))
    write_mount(tmp_path / "secrets", sites.secrets(), mode=0o600)
    return Mounts(config=(tmp_path / "site",), secrets=(tmp_path / "secrets",))


def test_a_kept_snapshot_reads_back_with_its_hash_and_files(tmp_path: Path) -> None:
    """save() then load() gives the same files under the same mount paths and content hash."""
    snapshot = mounts(tmp_path).snapshot()
    kept = LastGood(tmp_path / "spool" / "supervisor" / "last-good.json")
    kept.save(snapshot)
    again = kept.load()
    assert again is not None
    assert again.hash == snapshot.hash
    assert [(m.path, dict(m.files)) for m in again.config] == [
        (m.path, dict(m.files)) for m in snapshot.config
    ]
    assert [dict(m.files) for m in again.secrets] == [dict(m.files) for m in snapshot.secrets]


def test_audio_bytes_are_kept_exactly(tmp_path: Path) -> None:
    """A config mount's audio file (bytes, not UTF-8: NULs, 0xff) reads back byte for byte."""
    audio = bytes(range(256)) * 4
    site = Mount(path=tmp_path / "site", files={"site.yaml": b"name: x\n", "hello.wav": audio})
    snapshot = Snapshot((site,), (), content_hash([site]))
    kept = LastGood(tmp_path / "last-good.json")
    kept.save(snapshot)
    again = kept.load()
    assert again is not None
    assert again.config[0].files["hello.wav"] == audio
    assert again.hash == snapshot.hash


def test_the_kept_file_is_private(tmp_path: Path) -> None:
    """It holds the Secret's values: mode 0600, whatever the umask."""
    kept = LastGood(tmp_path / "spool" / "supervisor" / "last-good.json")
    old = os.umask(0)
    try:
        kept.save(mounts(tmp_path).snapshot())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(kept.path).st_mode) == 0o600


def test_nothing_kept_is_none(tmp_path: Path) -> None:
    """First boot: no file is no fallback, not an error."""
    assert LastGood(tmp_path / "last-good.json").load() is None


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "is not a kept config"),
        (b'{"format": 99}', "has format 99"),
        (b'{"format": 1, "hash": "x", "config": [], "secrets": []}', "content hash"),
        (
            b'{"format": 1, "hash": "x", "config": [{"path": "/s", "files": [1]}], "secrets": []}',
            "is not a kept config",
        ),
    ],
)
def test_a_damaged_file_is_refused_naming_it(tmp_path: Path, content: bytes, why: str) -> None:
    """Garbage, another format, a hash that does not match, a wrong shape: refused with the
    file's path and the reason, never half used."""
    kept = LastGood(tmp_path / "last-good.json")
    kept.path.write_bytes(content)
    with pytest.raises(LastGoodUnusable, match=why) as caught:
        kept.load()
    assert str(kept.path) in str(caught.value)


def test_an_edited_file_is_refused(tmp_path: Path) -> None:
    """One file's text changed after it was kept: the hash check refuses the whole snapshot."""
    kept = LastGood(tmp_path / "last-good.json")
    kept.save(mounts(tmp_path).snapshot())
    document = json.loads(kept.path.read_text())
    files = document["config"][0]["files"]
    edited = base64.b64decode(files["site.yaml"]) + b"\n# edited\n"
    files["site.yaml"] = base64.b64encode(edited).decode()
    kept.path.write_text(json.dumps(document))
    with pytest.raises(LastGoodUnusable, match="content hash"):
        kept.load()


def test_an_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    """A file larger than any kept snapshot can be is refused by its size."""
    kept = LastGood(tmp_path / "last-good.json")
    with kept.path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)
    with pytest.raises(LastGoodUnusable, match="larger than"):
        kept.load()
