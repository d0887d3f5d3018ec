"""`asterisk-supervisor addresses`: the pod's expected addresses against what it holds, once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from supervisor.addresses import ExpectedAddress, Trunk, check
from supervisor.addresses.display import format_json, format_table
from supervisor.addresses.fromsite import expected_from_site
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import load_site_dirs

PROBLEM = 1
USAGE_ERROR = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "addresses",
        help="check that the pod holds its expected addresses and uses them toward the trunks",
        description=(
            "Print the pod's expected addresses against what the kernel has (presence, flags, "
            "bindability, prefix length) and the source address selected toward each trunk. "
            "Exit status 1 on any problem."
        ),
    )
    parser.add_argument("config_dirs", nargs="*", metavar="CONFIG_DIR", help="site directories")
    parser.add_argument(
        "--secrets",
        action="append",
        default=[],
        metavar="DIR",
        help="the Secret's mount (the site is validated as a whole, secrets included)",
    )
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
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def _parse_trunk(text: str) -> Trunk:
    name, sep, host = text.partition("=")
    if not sep or not name or not host:
        raise ValueError(f"--trunk {text!r}: expected NAME=HOST")
    return Trunk(name=name, hosts=tuple(host.split(",")))


def run(args: argparse.Namespace) -> int:
    try:
        expected = [ExpectedAddress.parse(text) for text in args.expect]
        trunks = [_parse_trunk(text) for text in args.trunk]
    except ValueError as exc:
        print(f"asterisk-supervisor addresses: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.config_dirs:
        try:
            loaded = load_site_dirs(args.config_dirs, args.secrets)
        except (SiteInvalid, OSError) as exc:
            print(f"asterisk-supervisor addresses: {exc}", file=sys.stderr)
            return USAGE_ERROR
        expected_list, site_trunks = expected_from_site(loaded.site, expected)
        expected, trunks = list(expected_list), [*site_trunks, *trunks]
    if not expected:
        print(
            "asterisk-supervisor addresses: no expected address (give CONFIG_DIR or --expect)",
            file=sys.stderr,
        )
        return USAGE_ERROR
    report = check(expected, trunks)
    out = format_json(report) if args.format == "json" else format_table(report)
    sys.stdout.write(out)
    return 0 if report.ok else PROBLEM
