"""`asterisk-supervisor calls`: recent calls from the call record (run it in the pod with
`kubectl exec`): time, direction, trunk, from, to, who answered, talk time, outcome."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from supervisor.cli.options import add_format
from supervisor.cli.report import OK, could_not_run, print_json
from supervisor.records import history, schema
from supervisor.records.store import MAX_LIMIT, RecordError, RecordStore
from supervisor.settings import AsteriskPaths

DEFAULT_RECORD = AsteriskPaths().host(AsteriskPaths().spool) / schema.RELATIVE_PATH


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calls",
        help="print recent calls from the call record",
        description=(
            "Print recent calls, newest first, from the call record Asterisk writes on the "
            "spool volume (docs/records.md). Exit 0 when read, 2 when it could not be."
        ),
    )
    parser.add_argument(
        "--since",
        default="1d",
        metavar="SPAN|TIME",
        help="calls that ended since: 90s, 30m, 12h, 1d, 2w ago or an ISO time (default 1d)",
    )
    parser.add_argument("--number", metavar="NUMBER", help="only calls from or to this number")
    parser.add_argument(
        "--limit",
        type=int,
        default=50,
        metavar="N",
        help=f"at most N calls (1 to {MAX_LIMIT}, default 50)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        default=DEFAULT_RECORD,
        metavar="FILE",
        help=f"the record's file (default {DEFAULT_RECORD})",
    )
    add_format(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    as_json = args.format == "json"
    try:
        if not 1 <= args.limit <= MAX_LIMIT:
            raise ValueError(f"--limit: 1 to {MAX_LIMIT}")
        query = history.query(since=args.since, number=args.number, limit=args.limit)
    except ValueError as exc:
        return could_not_run("calls", "usage", str(exc), as_json=as_json)
    try:
        found = RecordStore(args.record).query(query)
    except RecordError as exc:
        return could_not_run("calls", "io", str(exc), as_json=as_json)
    if as_json:
        print_json({"calls": [history.as_dict(r) for r in found]})
    else:
        sys.stdout.write(history.table(found))
    return OK
