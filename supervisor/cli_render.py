"""`asterisk-supervisor render CONFIG_DIR... --out DIR [--secrets DIR...]`: write the Asterisk
config files for a site, for humans and diffs.

Files are written 0640 (they hold passwords). Without `--secrets` passwords are placeholders.
manager.conf gets a fresh random AMI secret each time, as at each boot.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supervisor.render import RenderContext, render
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import load_site_dirs

FILE_MODE = 0o640


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "render",
        help="write the Asterisk config files for a site into a directory",
        description=(
            "Render Asterisk's configuration for the site in the config directories into --out. "
            "Exit 0 when written, 1 when the site is invalid, 2 on a usage error."
        ),
    )
    p.add_argument("config", nargs="+", type=Path, metavar="CONFIG_DIR")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument(
        "--secrets",
        action="append",
        type=Path,
        metavar="DIR",
        help="secret directory (repeatable); without it passwords are placeholders",
    )
    p.set_defaults(handler=run)


def write_files(out: Path, files: Mapping[str, str]) -> None:
    """Write each file atomically (temp file + rename) with mode 0640."""
    out.mkdir(mode=0o750, parents=True, exist_ok=True)
    for name, text in files.items():
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.")
        try:
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, out / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def run(args: argparse.Namespace) -> int:
    try:
        loaded = load_site_dirs(args.config, args.secrets)
    except SiteInvalid as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(exc.args[0], file=sys.stderr)
        return 1
    files = render(loaded, RenderContext(ami_secret=secrets.token_hex(16)))
    try:
        write_files(args.out, files)
    except OSError as exc:
        print(f"{args.out}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(files)} files to {args.out}")
    return 0
