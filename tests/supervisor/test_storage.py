"""The persistent-path check: a missing path, a read-only filesystem or a directory the Asterisk
user cannot write is refused with a message naming the path and the fix; a good one passes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import required
from supervisor.storage import PersistenceError, RunUser, check_persistent

ASTERISK = RunUser(uid=101, gid=101, gids=frozenset({101}))


def refusal(path: Path, user: RunUser = ASTERISK) -> str:
    with pytest.raises(PersistenceError) as caught:
        check_persistent([(path, "/var/spool/asterisk")], user)
    return str(caught.value)


def test_a_directory_owned_by_the_user_or_its_group_passes(tmp_path: Path) -> None:
    """Owner with u+wx, or a group of the user's with g+wx (fsGroup), is enough."""
    os.chmod(tmp_path, 0o700)
    owner = RunUser(uid=tmp_path.stat().st_uid, gid=12345, gids=frozenset({12345}))
    check_persistent([(tmp_path, "/var/spool/asterisk")], owner)
    os.chmod(tmp_path, 0o2770)
    grouped = RunUser(
        uid=54321, gid=tmp_path.stat().st_gid, gids=frozenset({tmp_path.stat().st_gid})
    )
    check_persistent([(tmp_path, "/var/spool/asterisk")], grouped)


def test_missing_and_not_a_directory_are_refused(tmp_path: Path) -> None:
    """A path that does not exist, or is a file, is named with what to do."""
    message = refusal(tmp_path / "absent")
    assert "/var/spool/asterisk cannot be used" in message
    assert "mount the persistent volume there" in message
    (tmp_path / "file").write_text("")
    assert "/var/spool/asterisk is not a directory" in refusal(tmp_path / "file")


def test_not_writable_by_the_asterisk_user_is_refused(tmp_path: Path) -> None:
    """Root-owned 0755 (what a volume without fsGroup looks like) is refused for uid 101."""
    os.chmod(tmp_path, 0o755)
    message = refusal(tmp_path, RunUser(uid=101, gid=101, gids=frozenset({101})))
    if tmp_path.stat().st_uid == 101:
        pytest.skip("the test directory belongs to uid 101")
    assert "is not writable by uid 101" in message
    assert "mode 755" in message
    assert "fsGroup" in message


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        required.missing("mounting a read-only filesystem needs root")
    target = tmp_path / "ro"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,mode=0777", "tmpfs", str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_a_read_only_filesystem_is_refused_even_with_open_modes(read_only_mount: Path) -> None:
    """A mode-0777 directory on a read-only mount (the container's root) is still refused."""
    message = refusal(read_only_mount)
    assert "is on a read-only filesystem" in message
    assert "mount the PersistentVolumeClaim" in message


def test_every_bad_path_is_named_once(tmp_path: Path) -> None:
    """Spool and astdb are checked together; the same path given twice is reported once."""
    with pytest.raises(PersistenceError) as caught:
        check_persistent(
            [(tmp_path / "a", "/spool"), (tmp_path / "b", "/db"), (tmp_path / "a", "/spool")],
            ASTERISK,
        )
    message = str(caught.value)
    assert message.count("/spool cannot be used") == 1
    assert "/db cannot be used" in message


def test_run_user_of_a_root_has_its_primary_group(tmp_path: Path) -> None:
    """The run user's primary group (the config files' group) is read from the root's passwd;
    an unknown user is a PersistenceError naming the file."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\nbroken\nasterisk:x:101:104::/var/lib/asterisk:/bin/false\n"
    )
    assert RunUser.from_root(tmp_path, "asterisk").gid == 104
    with pytest.raises(PersistenceError, match="'nobody' not found"):
        RunUser.from_root(tmp_path, "nobody")
