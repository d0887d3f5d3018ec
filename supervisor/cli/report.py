"""What the CLI prints when a command cannot say "done": one printer for site problems and one
for errors, in text or JSON, and the exit-code contract every subcommand follows.

- 0: done (the site is valid, the files are written, the addresses are fine);
- 1: the input is invalid (every problem listed) or the checked thing has a problem;
- 2: the command could not run (usage error, unreadable or unwritable path, internal error).

With `--format json` stdout is always one JSON document, errors included. A traceback is never the
message: an internal error prints one line, and the traceback follows on stderr as a detail for a
bug report.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any, Literal

from supervisor.site.errors import SiteInvalid, escape

OK = 0
INVALID = 1
COULD_NOT_RUN = 2

ErrorKind = Literal["usage", "io", "internal"]


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


def site_problems(exc: SiteInvalid, *, as_json: bool) -> int:
    """Every problem of an invalid site, `file:line: key: message`; exit status INVALID."""
    if as_json:
        print_json({"valid": False, "problems": [p.as_dict() for p in exc.problems]})
    else:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(exc.args[0], file=sys.stderr)
    return INVALID


def could_not_run(command: str, kind: ErrorKind, message: str, *, as_json: bool) -> int:
    """One line saying why the command could not run; exit status COULD_NOT_RUN. The message
    may hold a path as given (a newline in it would forge a second line): escaped like a
    problem's parts."""
    if as_json:
        print_json({"error": {"kind": kind, "message": message}})
    else:
        shown = escape(message)
        print(f"asterisk-supervisor{' ' + command if command else ''}: {shown}", file=sys.stderr)
    return COULD_NOT_RUN


def internal_error(command: str, exc: BaseException, *, as_json: bool) -> int:
    """A bug (or an input the checks missed): one line, then the traceback as a detail."""
    message = f"internal error ({type(exc).__name__}): {exc}"[:500]
    could_not_run(command, "internal", message, as_json=as_json)
    print("details for a bug report:", file=sys.stderr)
    traceback.print_exception(exc, file=sys.stderr)
    return COULD_NOT_RUN
