"""Command line: argv becomes values here, at the edge; nothing below reads argv or the environment.

Each subcommand lives in its own module of this package exposing `register(subparsers)`, which
adds a parser and sets `handler` (a callable taking the parsed namespace and returning the exit
status). Add a subcommand by adding its module to COMMANDS. Handlers let `SiteInvalid` and
`OSError` propagate: `main` prints them (report.py) with the exit-code contract.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import sys
from collections.abc import Sequence
from typing import NoReturn

from supervisor import __version__
from supervisor.cli.report import (
    COULD_NOT_RUN,
    could_not_run,
    internal_error,
    print_json,
    site_problems,
)
from supervisor.site.errors import SiteInvalid

# Subcommand modules, in help order.
COMMANDS: tuple[str, ...] = (
    "supervisor.cli.run",
    "supervisor.cli.addresses",
    "supervisor.cli.check",
    "supervisor.cli.render",
    "supervisor.cli.explain",
    "supervisor.cli.calls",
)

USAGE_ERROR = COULD_NOT_RUN


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error under `--format json` is a JSON document too."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if self.json_errors:
            print_json({"error": {"kind": "usage", "message": f"{self.prog}: {message}"}})
            raise SystemExit(USAGE_ERROR)
        super().error(message)


def build_parser(*, json_errors: bool = False) -> argparse.ArgumentParser:
    _Parser.json_errors = json_errors
    parser = _Parser(
        prog="asterisk-supervisor",
        description=(
            "Run Asterisk as a Kubernetes workload: render its configuration from a YAML site "
            "description, reload it live, verify the pod's addresses, drain calls on shutdown "
            "and export metrics."
        ),
        epilog="Exit status: 0 done/valid, 1 invalid input or a problem found, 2 could not run.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def _wants_json(argv: Sequence[str]) -> bool:
    return "--format=json" in argv or any(
        a == "--format" and b == "json" for a, b in itertools.pairwise(argv)
    )


def _describe(exc: OSError) -> str:
    if exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc.strerror or exc)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args_list)
    parser = build_parser(json_errors=as_json)
    args = parser.parse_args(args_list)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return USAGE_ERROR
    command = str(args.command)
    try:
        status: int = handler(args)
    except SiteInvalid as exc:
        return site_problems(exc, as_json=as_json)
    except OSError as exc:
        return could_not_run(command, "io", _describe(exc), as_json=as_json)
    except Exception as exc:
        return internal_error(command, exc, as_json=as_json)
    return status
