"""Command line: argv becomes values here, at the edge; nothing below reads argv or the environment.

Each subcommand lives in its own module exposing `register(subparsers)`, which adds a parser and
sets `handler` (a callable taking the parsed namespace and returning the exit status). Add a
subcommand by adding its module to COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from supervisor import __version__

# Subcommand modules, in help order.
COMMANDS: tuple[str, ...] = (
    "supervisor.cli_run",
    "supervisor.cli_addresses",
    "supervisor.cli_check",
    "supervisor.cli_render",
)

USAGE_ERROR = 2


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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return USAGE_ERROR
    status: int = handler(args)
    return status
