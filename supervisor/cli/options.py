"""Options several subcommands share: defined once, so they read and behave the same."""

from __future__ import annotations

import argparse
import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path


def add_config_dirs(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "config",
        nargs="+" if required else "*",
        type=Path,
        metavar="CONFIG_DIR",
        help="site config directory: a kubelet ConfigMap mount or a plain directory of *.yaml",
    )


def add_secrets(parser: argparse.ArgumentParser, *, without: str | None = None) -> None:
    """`--secrets DIR` (repeatable); `without`: what happens when it is not given."""
    parser.add_argument(
        "--secrets",
        action="append",
        type=Path,
        default=None,
        metavar="DIR",
        help="secret directory, one file per key (repeatable)"
        + (f"; without it {without}" if without else ""),
    )


def add_format(parser: argparse.ArgumentParser, text: str = "text") -> None:
    """`--format TEXT|json`: json prints one JSON document on stdout, errors included."""
    parser.add_argument(
        "--format",
        choices=(text, "json"),
        default=text,
        help=f"output format (default {text}); json prints one JSON document, errors included",
    )


def require_directories(paths: Iterable[Path]) -> None:
    """Each path given on the command line is a directory that can be listed, else OSError
    (the command could not run). What is inside (a broken `..data`, a symlink loop, a file
    that cannot be read) is the site's problem, reported with its location instead."""
    for path in paths:
        if not stat.S_ISDIR(os.stat(path).st_mode):  # ELOOP, ENOENT, EACCES as they are
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
        os.listdir(path)
