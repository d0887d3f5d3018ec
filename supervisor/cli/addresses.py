"""`asterisk-supervisor addresses`: the pod's expected addresses against what it holds, once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from supervisor.addresses import ExpectedAddress, Trunk, check
from supervisor.addresses.display import format_json, format_table
from supervisor.addresses.fromsite import expected_from_site
from supervisor.cli.options import add_config_dirs, add_format, add_secrets
from supervisor.cli.report import INVALID, OK, could_not_run
from supervisor.site.load import load_site_dirs


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "addresses",
        help="check that the pod holds its expected addresses and uses them toward the trunks",
        description=(
            "Print the pod's expected addresses against what the kernel has (presence, flags, "
            "bindability, prefix length) and the source address selected toward each trunk. "
            "Exit 0 when all is well, 1 on any problem (or an invalid site), 2 when it could not "
            "run."
        ),
    )
    add_config_dirs(parser, required=False)
    add_secrets(parser, without="secrets are not checked")
    parser.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="ADDR[/LEN]",
        help="a required address, replacing the site's addresses; repeat for each",
    )
    parser.add_argument(
        "--trunk",
        action="append",
        default=[],
        metavar="NAME=HOST[,HOST...]",
        help="a trunk (besides the site's) to check the egress source toward",
    )
    add_format(parser, text="table")
    parser.set_defaults(handler=run)


def _parse_trunk(text: str) -> Trunk:
    name, sep, host = text.partition("=")
    if not sep or not name or not host:
        raise ValueError(f"--trunk {text!r}: expected NAME=HOST")
    return Trunk(name=name, hosts=tuple(host.split(",")))


def run(args: argparse.Namespace) -> int:
    as_json = args.format == "json"
    try:
        expected = [ExpectedAddress.parse(text) for text in args.expect]
        trunks = [_parse_trunk(text) for text in args.trunk]
    except ValueError as exc:
        return could_not_run("addresses", "usage", str(exc), as_json=as_json)
    if args.config:
        loaded = load_site_dirs(args.config, args.secrets)
        expected_list, site_trunks = expected_from_site(loaded.site, expected)
        expected, trunks = list(expected_list), [*site_trunks, *trunks]
    if not expected:
        message = "no expected address (give CONFIG_DIR or --expect)"
        return could_not_run("addresses", "usage", message, as_json=as_json)
    report = check(expected, trunks)
    out = format_json(report) if as_json else format_table(report)
    sys.stdout.write(out)
    return OK if report.ok else INVALID
