"""Raw snippets, the escape hatch appended to a rendered file, checked with the reader of
Asterisk's config syntax that the output guard uses (`supervisor.confparse`), so they are judged
exactly as Asterisk will read them: lines end at `\\n` only, `;--` opens a block comment anywhere.

A snippet must open with a section header, so it can never add options to the section the
renderer wrote last, and may only hold sections, options and comments: no `#include`,
`#tryinclude` or `#exec` (they read or run other files), no block comments, no character that is
not printable (a tab is fine: Asterisk treats it as white space), no line Asterisk would skip.
"""

from __future__ import annotations

import re

from supervisor.confparse import Directive, Flaw, Header, Item, Setting, parse
from supervisor.site.limits import MAX_RAW_LINE_BYTES

NAME_RE = re.compile(r"[A-Za-z0-9_.+-]{1,80}")
OPTIONS_RE = re.compile(r"[A-Za-z0-9_.!+-]{1,80}")
KEY_RE = re.compile(r"[A-Za-z0-9_()/,.!+-]{1,200}")


def _character_problem(line: str) -> str | None:
    if line.replace("\t", "").isprintable():
        return None
    bad = next(c for c in line if c != "\t" and not c.isprintable())
    return f"contains U+{ord(bad):04X}, a control character or line separator (only tab is allowed)"


def raw_items(text: str) -> list[Item]:
    """What Asterisk reads in the snippet (the order and lines as it sees them)."""
    return parse(text, keep_going=True)


def raw_headers(text: str) -> list[Header]:
    """The section headers of the snippet, as Asterisk reads them."""
    return [item for item in raw_items(text) if isinstance(item, Header)]


def raw_sections(text: str) -> list[str]:
    """Names of the sections the snippet opens (or adds to)."""
    return [header.name for header in raw_headers(text)]


def raw_problems(text: str) -> list[tuple[int, str]]:
    """(0-based line offset, message) for every line that is not a section, option or comment."""
    problems: list[tuple[int, str]] = []
    for offset, line in enumerate(text.split("\n")):
        why = _character_problem(line)
        if why is None and len(line.encode("utf-8", "surrogatepass")) > MAX_RAW_LINE_BYTES:
            why = f"longer than {MAX_RAW_LINE_BYTES} bytes"
        if why is not None:
            problems.append((offset, why))
    if problems:
        return problems
    for item in raw_items(text):
        offset = item.line - 1
        if isinstance(item, Directive):
            problems.append((offset, "#include, #tryinclude and #exec are not allowed"))
        elif isinstance(item, Flaw):
            if item.message == "an option before any section":
                problems.append((offset, "a raw snippet must start with a [section] header"))
            elif item.message.startswith("a block comment") or "--;" in item.message:
                problems.append((offset, "block comments (;-- --;) are not allowed"))
            else:
                problems.append((offset, item.message))
        elif isinstance(item, Header):
            options = item.options or ()
            if not NAME_RE.fullmatch(item.name) or not all(
                OPTIONS_RE.fullmatch(o) for o in options
            ):
                problems.append((offset, f"not a section header: [{item.name[:60]}]"))
        elif isinstance(item, Setting) and not KEY_RE.fullmatch(item.name):
            problems.append((offset, f"not 'name = value': option name {item.name[:60]!r}"))
    return problems
