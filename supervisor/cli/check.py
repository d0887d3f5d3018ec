"""`asterisk-supervisor check CONFIG_DIR... [--secrets DIR...] [--format text|json]`.

Exit status: 0 the site is valid, 1 it is not (every problem listed), 2 could not run. Without
`--secrets` the Secret keys the site references are not checked (for CI and pre-commit hooks).
"""

from __future__ import annotations

import argparse
from typing import Any

from supervisor.cli.options import add_config_dirs, add_format, add_secrets, require_directories
from supervisor.cli.report import OK, print_json
from supervisor.render import RenderContext, render
from supervisor.site.load import load_site_dirs


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="validate a site description; list every problem with file, line and key",
        description=(
            "Validate the site in the config directories (kubelet ConfigMap mounts or plain "
            "directories of *.yaml files). Exit 0 when valid, 1 when not, 2 when it could not "
            "run (usage error, unreadable directory, internal error)."
        ),
    )
    add_config_dirs(p)
    add_secrets(p, without="secrets are not checked")
    add_format(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    require_directories([*args.config, *(args.secrets or ())])
    loaded = load_site_dirs(args.config, args.secrets)
    # What apply would refuse, check refuses: the output guard reads every rendered file back
    # (a placeholder AMI secret: the context's own values are not the site's).
    render(loaded, RenderContext(ami_secret="check-only-placeholder"))
    if args.format == "json":
        print_json({"valid": True, "problems": [], "hash": loaded.hash})
    else:
        site = loaded.site
        print(
            f"valid: {len(site.trunks)} trunk(s), {len(site.endpoints)} endpoint(s), "
            f"{len(site.transports)} transport(s)"
        )
    return OK
