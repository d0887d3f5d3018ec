"""Command line: argv becomes one settings value here, at the edge; nothing below reads argv."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from supervisor import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asterisk-supervisor",
        description=(
            "Run Asterisk as a Kubernetes workload: render its configuration from a YAML site "
            "description, reload it live, verify the pod's addresses, drain calls on shutdown "
            "and export metrics."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0
