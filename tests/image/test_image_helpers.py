"""lab.image's path helpers, which the layout tests rely on to find a path as the image sees it."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from lab import image


def test_resolve_in_follows_absolute_and_relative_symlinks_inside_the_tree(tmp_path: Path) -> None:
    """/var/run -> /run (Debian) and relative links resolve inside the tree, never on the host."""
    (tmp_path / "run").mkdir()
    (tmp_path / "var").mkdir()
    os.symlink("/run", tmp_path / "var" / "run")
    (tmp_path / "opt" / "real").mkdir(parents=True)
    os.symlink("real", tmp_path / "opt" / "link")
    assert image.resolve_in(tmp_path, PurePosixPath("/var/run/asterisk")) == (
        tmp_path / "run" / "asterisk"
    )
    assert image.resolve_in(tmp_path, PurePosixPath("/opt/link/x")) == tmp_path / "opt/real/x"
    assert image.resolve_in(tmp_path, PurePosixPath("/tmp")) == tmp_path / "tmp"


def test_wheel_tags_select_binary_wheels_for_the_tree_interpreter() -> None:
    """pip is asked for CPython wheels of the tree's version only, never for sources to build."""
    tags = image._wheel_tags("3.14")
    assert "--only-binary=:all:" in tags
    assert tags[tags.index("--python-version") + 1] == "3.14"
    assert "cp314" in tags
