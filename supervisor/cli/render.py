"""`asterisk-supervisor render CONFIG_DIR... --out DIR [--secrets DIR...]`: write the Asterisk
config files for a site, for humans and diffs.

Files are written 0640 (they hold passwords). Without `--secrets` passwords are placeholders.
manager.conf gets a fresh random AMI secret each time, as at each boot.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supervisor.cli.options import add_config_dirs, add_secrets, require_directories
from supervisor.cli.report import OK
from supervisor.files import fsync_dir, write_atomic
from supervisor.render import RenderContext, render
from supervisor.render.audio import AUDIO_DIR, render_audio
from supervisor.site.load import load_site_dirs

FILE_MODE = 0o640


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "render",
        help="write the Asterisk config files for a site into a directory",
        description=(
            "Render Asterisk's configuration for the site in the config directories into --out. "
            "Exit 0 when written, 1 when the site is invalid, 2 when it could not run (usage "
            "error, unwritable --out, internal error)."
        ),
    )
    add_config_dirs(p)
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    add_secrets(p, without="passwords are placeholders")
    p.set_defaults(handler=run)


def write_files(out: Path, files: Mapping[str, str]) -> None:
    """Write each file atomically with mode 0640 (files.write_atomic)."""
    out.mkdir(mode=0o750, parents=True, exist_ok=True)
    for name, text in files.items():
        write_atomic(out / name, text.encode(), mode=FILE_MODE)
    fsync_dir(out)


def run(args: argparse.Namespace) -> int:
    require_directories([*args.config, *(args.secrets or ())])
    loaded = load_site_dirs(args.config, args.secrets)
    files = render(loaded, RenderContext(ami_secret=secrets.token_hex(16)))
    write_files(args.out, files)
    audio = render_audio(loaded.site, loaded.audio)
    if audio:
        (args.out / AUDIO_DIR).mkdir(mode=0o750, exist_ok=True)
        for name, data in audio.items():
            write_atomic(args.out / AUDIO_DIR / name, data, mode=FILE_MODE)
        fsync_dir(args.out / AUDIO_DIR)
    more = f" and {len(audio)} audio files to {args.out / AUDIO_DIR}" if audio else ""
    print(f"wrote {len(files)} files to {args.out}{more}")
    return OK
