"""amiaccess.ACTIONS is exactly what the supervisor sends: no action granted for nothing, none
sent without being listed (the lab test checks each listed one is permitted)."""

from __future__ import annotations

import re
from pathlib import Path

import supervisor
from supervisor import amiaccess
from supervisor.ami.client import RELOAD_RESYNC_ACTIONS, RESYNC_ACTIONS

PACKAGE = Path(supervisor.__file__).parent
# {"Action": "Name", ...} literals and the client's one-name re-sync calls.
LITERAL = re.compile(r'"Action":\s*"(\w+)"|_resync\(\s*proto,\s*\("(\w+)",\)')


def sent_actions() -> set[str]:
    names = set(RESYNC_ACTIONS) | set(RELOAD_RESYNC_ACTIONS)
    for path in PACKAGE.rglob("*.py"):
        for match in LITERAL.finditer(path.read_text()):
            names.add(match.group(1) or match.group(2))
    return names - {"Login"}  # the connection's own, needs no write class


def test_actions_list_is_what_the_code_sends() -> None:
    """The listed actions and the sent ones are the same set, and the list has no repeats."""
    assert sent_actions() == set(amiaccess.ACTIONS)
    assert len(amiaccess.ACTIONS) == len(set(amiaccess.ACTIONS))
