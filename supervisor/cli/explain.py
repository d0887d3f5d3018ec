"""`asterisk-supervisor explain CONFIG_DIR... --to NUMBER [--from CALLER] [--trunk NAME]
[--at TIME] [--press DIGITS]... [--night NAME]... [--dnd PHONE]... [--forward
PHONE=NUMBER[:busy|noanswer]]... [--extension] [--secrets DIR...]`: where a call
would go, from the site model alone (site/explain.py), before the site is applied.

Exit 0 when explained, 1 when the site is invalid, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
from typing import Any

from supervisor.cli.options import add_config_dirs, add_format, add_secrets, require_directories
from supervisor.cli.report import OK, print_json
from supervisor.site.explain import explain, explain_extension
from supervisor.site.features import FORWARD_CHARACTERS, FORWARD_FAMILIES, Forward
from supervisor.site.load import load_site_dirs


def _time(text: str) -> datetime.datetime:
    """ISO 8601; without an offset: UTC."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-12-07T10:15+01:00)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)


def _forward(text: str) -> tuple[str, Forward, str]:
    """PHONE=NUMBER[:busy|noanswer] -> (phone, kind, number); without a kind: every call."""
    phone, equals, rest = text.partition("=")
    number, _, kind = rest.partition(":")
    kind = kind or "always"
    kinds: dict[str, Forward] = {k: k for k in FORWARD_FAMILIES}
    if not equals or not phone or not number or kind not in kinds:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not PHONE=NUMBER, PHONE=NUMBER:busy or PHONE=NUMBER:noanswer"
        )
    if not set(number) <= set(FORWARD_CHARACTERS):
        raise argparse.ArgumentTypeError(f"{number!r}: a forward is digits and * # + only")
    return phone, kinds[kind], number


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "explain",
        help="print the path a call would take (who rings, how long, then what, and why)",
        description=(
            "Follow a call through the site's dialplan from the model alone: inbound route, "
            "time conditions (which rule or holiday decided), menus, ring groups and their "
            "fallbacks, voicemail, hang-up; for a call nobody answers. Exit 0 when explained, "
            "1 when the site is invalid, 2 when it could not run."
        ),
    )
    add_config_dirs(p)
    add_secrets(p, without="Secret keys are not checked")
    p.add_argument("--to", required=True, metavar="NUMBER", help="the number called")
    p.add_argument("--from", dest="caller", metavar="CALLER", help="the caller's number")
    p.add_argument(
        "--trunk",
        metavar="NAME",
        help="the trunk it arrives on (default: the one listing the number)",
    )
    p.add_argument(
        "--at",
        type=_time,
        metavar="TIME",
        help="when (ISO 8601; default: now; without an offset: UTC)",
    )
    p.add_argument(
        "--press",
        action="append",
        default=[],
        metavar="DIGITS",
        help="what the caller presses at the next menu (repeat for later menus); default: nothing",
    )
    p.add_argument(
        "--night",
        action="append",
        default=[],
        metavar="NAME",
        help="a time condition whose night mode is on",
    )
    p.add_argument(
        "--dnd",
        action="append",
        default=[],
        metavar="PHONE",
        help="a phone with do-not-disturb on (kept in Asterisk's database, not the site)",
    )
    p.add_argument(
        "--forward",
        action="append",
        default=[],
        type=_forward,
        metavar="PHONE=NUMBER[:busy|noanswer]",
        help="a phone's forward: of every call, or when busy or not answering",
    )
    p.add_argument(
        "--on-blocklist",
        action="append",
        default=[],
        metavar="NUMBER",
        help="a number on the phones' blocklist (kept in Asterisk's database, not the site)",
    )
    p.add_argument(
        "--extension",
        action="store_true",
        help="NUMBER is an internal extension dialled from a phone",
    )
    add_format(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    require_directories([*args.config, *(args.secrets or ())])
    loaded = load_site_dirs(args.config, args.secrets)
    at = args.at or datetime.datetime.now(datetime.UTC)
    forwards: dict[str, dict[Forward, str]] = {}
    for phone, kind, number in args.forward:
        forwards.setdefault(phone, {})[kind] = number
    seconds = {name: file.seconds for name, file in loaded.audio.items()}
    if args.extension:
        result = explain_extension(
            loaded.site,
            args.to,
            at=at,
            presses=args.press,
            night=args.night,
            dnd=args.dnd,
            forwards=forwards,
            audio_seconds=seconds,
        )
    else:
        result = explain(
            loaded.site,
            args.to,
            trunk=args.trunk,
            caller=args.caller,
            at=at,
            presses=args.press,
            night=args.night,
            blocked=args.on_blocklist,
            dnd=args.dnd,
            forwards=forwards,
            audio_seconds=seconds,
        )
    if args.format == "json":
        print_json(
            {
                "at": at.isoformat(),
                "steps": [dataclasses.asdict(s) for s in result.steps],
                "outcome": dataclasses.asdict(result.outcome),
                "unused_presses": list(result.unused),
            }
        )
    else:
        print(result.text(), end="")
    return OK
