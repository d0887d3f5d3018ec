"""Basic syntax of raw snippets: the escape hatch appended to a rendered file.

A snippet must open with a section header, so it can never add options to the section the
renderer wrote last, and may only hold what Asterisk's parser reads as sections, options and
comments: no `#include`/`#exec` (that would read or run other files) and no block comments.
"""

from __future__ import annotations

import re

SECTION_RE = re.compile(r"\[[A-Za-z0-9_.+-]{1,80}\](\((?:!|[A-Za-z0-9_.,!-]{1,200})\))?")
OPTION_RE = re.compile(r"[A-Za-z0-9_()/,.!+-]{1,200} *=>? *\S.*|[A-Za-z0-9_()/,.!+-]{1,200} *=")


def raw_problems(text: str) -> list[tuple[int, str]]:
    """(0-based line offset, message) for every line that is not a section, option or comment."""
    problems: list[tuple[int, str]] = []
    seen_section = False
    for offset, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if not stripped:
            continue
        if not line.isprintable():
            problems.append((offset, "contains a control character"))
        elif stripped.startswith(";--") or "--;" in stripped:
            problems.append((offset, "block comments (;-- --;) are not allowed"))
        elif stripped.startswith(";"):
            continue
        elif stripped.startswith("#"):
            problems.append((offset, "#include and #exec are not allowed"))
        elif stripped.startswith("["):
            if not SECTION_RE.fullmatch(stripped.split(";", 1)[0].strip()):
                problems.append((offset, f"not a section header: {stripped[:60]!r}"))
            seen_section = True
        elif not OPTION_RE.fullmatch(stripped):
            problems.append((offset, f"not 'name = value': {stripped[:60]!r}"))
        elif not seen_section:
            problems.append((offset, "a raw snippet must start with a [section] header"))
            seen_section = True
    return problems
