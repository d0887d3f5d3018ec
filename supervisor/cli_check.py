"""`asterisk-supervisor check CONFIG_DIR... [--secrets DIR...] [--format text|json]`.

Exit status: 0 the site is valid, 1 it is not (every problem listed), 2 usage error. Without
`--secrets` the Secret keys the site references are not checked (for CI and pre-commit hooks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from supervisor.site.errors import SiteInvalid
from supervisor.site.load import load_site_dirs

VALID = 0
INVALID = 1


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="validate a site description; list every problem with file, line and key",
        description=(
            "Validate the site in the config directories (kubelet ConfigMap mounts or plain "
            "directories of *.yaml files). Exit 0 when valid, 1 when not, 2 on a usage error."
        ),
    )
    p.add_argument("config", nargs="+", type=Path, metavar="CONFIG_DIR")
    p.add_argument(
        "--secrets",
        action="append",
        type=Path,
        metavar="DIR",
        help="secret directory, one file per key (repeatable); without it secrets are not checked",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        loaded = load_site_dirs(args.config, args.secrets)
    except SiteInvalid as exc:
        if args.format == "json":
            report = {"valid": False, "problems": [p.as_dict() for p in exc.problems]}
            print(json.dumps(report, indent=2))
        else:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(exc.args[0], file=sys.stderr)
        return INVALID
    if args.format == "json":
        print(json.dumps({"valid": True, "problems": [], "hash": loaded.hash}, indent=2))
    else:
        site = loaded.site
        print(
            f"valid: {len(site.trunks)} trunk(s), {len(site.endpoints)} endpoint(s), "
            f"{len(site.transports)} transport(s)"
        )
    return VALID
