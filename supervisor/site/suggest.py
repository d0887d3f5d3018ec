"""Messages for references to unknown names, with a close known name while that stays cheap.

A suggestion compares the name with every known one: it is offered only while the known names
are few (sorted once per collection) and for the first MAX_SUGGESTIONS unknown references of one
check, so a site full of broken references costs linear time (issue 26: a sort of every known
name per reference took 50 s for 78,000 references).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

MAX_SUGGEST_AMONG = 200
MAX_SUGGESTIONS = 100


class Suggest:
    """One per check run: it remembers the sorted names and how many suggestions were tried."""

    def __init__(self) -> None:
        self._sorted: dict[int, tuple[Collection[object], list[str]]] = {}
        self._tried = 0

    def unknown(self, kind: str, name: str, known: Collection[object]) -> str:
        """`unknown KIND 'NAME'`, with `; did you mean 'X'?` when a known name is close."""
        hint = ""
        if known and len(known) <= MAX_SUGGEST_AMONG and self._tried < MAX_SUGGESTIONS:
            self._tried += 1
            hit = self._sorted.get(id(known))
            if hit is None or hit[0] is not known:
                hit = (known, sorted(str(n) for n in known))
                self._sorted[id(known)] = hit
            close = difflib.get_close_matches(name, hit[1], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {kind} {name!r}{hint}"
