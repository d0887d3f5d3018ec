"""Which generated dialplan patterns would run as one of Asterisk's special extensions.

Asterisk runs `h` after a hang-up, `T` on an absolute timeout, `t`/`i` on a menu's timeout or
invalid input, `e` on an exception, `a`/`o` from VoiceMail, `s` when no number came, each in the
channel's current context, and a pattern matching the name runs when no explicit extension of that
name has the priority. (`fax` and `talk` too, but only after fax detection or BackgroundDetect,
which the generated dialplan never turns on: a doorbell may dial "fax".)
"""

from __future__ import annotations

import re

from supervisor.confparse import Header, Item, Setting

SPECIAL = ("a", "e", "h", "i", "o", "s", "t", "T")
_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """An Asterisk extension pattern (`_` prefix) as a regular expression over whole names."""
    out, i, body = [], 0, pattern[1:]
    while i < len(body):
        c = body[i]
        if c == "[":
            end = body.index("]", i)
            out.append("[" + re.escape(body[i + 1 : end]).replace("\\-", "-") + "]")
            i = end + 1
            continue
        out.append(_CLASSES.get(c.upper() if c in "xzn" else c, re.escape(c)))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def patterns(items: list[Item]) -> list[tuple[str, str]]:
    """(context, pattern) of every pattern extension, in file order."""
    found: list[tuple[str, str]] = []
    context = ""
    for item in items:
        if isinstance(item, Header):
            context = item.name
        elif isinstance(item, Setting) and item.name == "exten" and item.value.startswith("_"):
            found.append((context, item.value.split(",", 1)[0].strip()))
    return found


def special_matches(items: list[Item]) -> list[tuple[str, str, str]]:
    """(context, pattern, special name) for every pattern matching a special extension name."""
    return [
        (context, pattern, name)
        for context, pattern in patterns(items)
        for name in SPECIAL
        if pattern_regex(pattern).fullmatch(name)
    ]
