"""Asterisk's config file syntax, read exactly as main/config.c reads it (Asterisk 22).

The reader is the oracle of the rendered-output guard (`guard.py`) and of the raw-snippet checks:
what it finds in a text is what Asterisk will find. Asterisk's rules, restated:

- Lines end at `\\n` only (fgets): a CR, VT, FF, U+0085 or U+2028 is a character inside a line.
  A line longer than 8190 bytes is skipped (with a warning). A UTF-8 BOM opens line 1 harmlessly.
  A NUL byte ends the line's text (C strings).
- Comments: `;` starts a comment unless escaped as `\\;` (the backslash is dropped). `;--` opens
  a block comment anywhere in a line (not `;---`), `--;` closes one; they nest (up to 128), the
  text on either side is joined. A `--;` with no block open makes Asterisk ignore every later line.
- What remains is stripped of every character below 33 (space and all controls) at both ends.
- `[name]` opens a section, name up to the first `]`; `(...)` right after it lists `!`
  (template), `+` (add to an existing section) and sections to inherit from; anything else after
  `]` is ignored. A missing `]` or `)`, or an unknown section to add to or inherit from, makes
  Asterisk refuse the whole file.
- `#include`, `#tryinclude`, `#exec` read other files (or run programs); other `#` words are
  ignored with a warning.
- Otherwise `name = value`, `name => value` (an object) or `name += value` (append), split at the
  first `=` (after an optional leading `\\` and the character it escapes); a line without `=` is
  ignored with a warning; an option before any section makes Asterisk refuse the file.
- Where config.c compares a plain (signed) `char`, a non-ASCII byte counts as below 33: a `\\`
  before a non-ASCII character is an invalid escape (the file is refused), and a directive's
  name ends at one.

Checked against the lab's Asterisk: tests/supervisor/test_confparse_asterisk.py.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_LINE_BYTES = 8190
MAX_NESTED_COMMENTS = 128
_SPACE = frozenset(" \t\n\v\f\r")  # C isspace in the "C" locale


class Header(NamedTuple):
    """`[name]` or `[name](options)`; `options` None without parentheses."""

    line: int
    name: str
    options: tuple[str, ...] | None = None


class Setting(NamedTuple):
    """`name = value`; `arrow` for `=>`, `append` for `+=`. An append's `value` is the text after
    `+=` unstripped: Asterisk adds it to the option's last value, then strips the result (or, if
    the option is new, strips it alone)."""

    line: int
    name: str
    value: str
    arrow: bool = False
    append: bool = False


class Directive(NamedTuple):
    """`#include`, `#tryinclude` or `#exec` and its argument."""

    line: int
    name: str
    argument: str


class Flaw(NamedTuple):
    """Something Asterisk warns about and ignores, or (`fatal`) refuses the whole file for."""

    line: int
    message: str
    fatal: bool = False


Item = Header | Setting | Directive | Flaw
_new = tuple.__new__  # builds a Setting without NamedTuple's Python-level __new__ (hot path)


#: What ast_strip drops at both ends: every character below 33.
BLANKS = "".join(map(chr, range(33)))


def _strip(text: str) -> str:
    """ast_strip: drop every character below 33 at both ends."""
    return text.strip(BLANKS)


class _Comments:
    """The block-comment state that carries from line to line, and the per-line scan."""

    def __init__(self) -> None:
        self.depth = 0
        self.opened: list[int] = []

    def strip(self, text: str, lineno: int, flaws: list[Flaw]) -> str | None:
        """The part of a line Asterisk processes (None: none of it), as config.c computes it.

        config.c edits the line in place (memmove for `\\;`, NULs for comments, joins around
        a block comment); here the same result is built from slices, in linear time: `i` is
        config.c's `new_buf` as an index into the unedited line, `pieces` the processed text
        so far while the scan is inside it (`aliased`: config.c's process_buf and new_buf
        point into the same string)."""
        if ";" not in text:  # the common case, and the same answer as the scan below
            return None if self.depth else text
        exists = not self.depth  # process_buf is set
        aliased = exists
        pieces: list[str] = []
        i = 0
        size = len(text)
        while True:
            at = text.find(";", i)
            if at < 0:
                break
            after = text[at + 1 : at + 4]
            if at > i and text[at - 1] == "\\":
                # `\;`: the backslash goes, the semicolon stays.
                if aliased:
                    pieces += (text[i : at - 1], ";")
                i = at + 1
            elif after[:2] == "--" and after[2:3] != "-":
                if self.depth >= MAX_NESTED_COMMENTS:
                    flaws.append(Flaw(lineno, "more than 128 nested block comments", True))
                    return None
                if aliased:  # the processed text ends here
                    pieces.append(text[i:at])
                    aliased = False
                i = at + 3
                self.depth += 1
                self.opened.append(lineno)
                flaws.append(Flaw(lineno, "a block comment (;-- ... --;)"))
            elif at >= i + 2 and text[at - 2 : at] == "--":
                self.depth -= 1
                if self.opened:
                    self.opened.pop()
                if self.depth < 0:
                    flaws.append(
                        Flaw(lineno, "'--;' closes no block comment: Asterisk ignores the rest")
                    )
                if aliased:  # not a real end: the text stays
                    pieces.append(text[i : at + 1])
                i = at + 1
                if not self.depth:
                    # Back to text: what follows joins the processed text (or starts it).
                    exists = aliased = True
            elif not self.depth:
                cut = at
                while cut > i and text[cut - 1] in _SPACE:
                    cut -= 1
                if cut != i and text[cut] == " " and cut + 1 < size and text[cut + 1] == " ":
                    cut += 2
                if aliased:
                    pieces.append(text[i:cut])
                    aliased = False
                break
            else:
                if aliased:
                    pieces.append(text[i : at + 1])
                i = at + 1
        if not exists:
            return None
        if aliased:
            pieces.append(text[i:])
        return "".join(pieces)


def parse(text: str, *, keep_going: bool = False) -> list[Item]:
    """Every header, setting, directive and flaw Asterisk finds in `text`, in order. Asterisk
    stops at a fatal flaw (refusing the file); `keep_going` reads on, to report every line."""
    items: list[Item] = []
    comments = _Comments()
    sections: set[str] = set()
    in_section = False
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    append = items.append
    for lineno, line in enumerate(lines, start=1):
        if not comments.depth and ";" not in line and "\0" not in line and len(line) < 2048:
            # The common line, short and without comments: the same steps, inlined.
            body = line.strip(BLANKS)
            if not body:
                continue
            first = body[0]
            if first != "[" and first != "#" and first != "\\" and in_section:
                equals = body.find("=")
                if equals > 0 and body[equals - 1] != "+":
                    value = body[equals + 1 :]
                    arrow = value.startswith(">")
                    name = body[:equals].strip(BLANKS)
                    if name:
                        value = (value[1:] if arrow else value).strip(BLANKS)
                        append(_new(Setting, (lineno, name, value, arrow, False)))
                        continue
            item = _line(body, lineno, sections, in_section)
            append(item)
            if first == "[":
                in_section = True
            if type(item) is Flaw and item.fatal and not keep_going:
                return items
            continue
        flaws: list[Flaw] = []
        if (
            len(line) * 4 > MAX_LINE_BYTES
            and len(line.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES
        ):
            append(Flaw(lineno, f"longer than {MAX_LINE_BYTES} bytes: Asterisk skips it"))
            continue
        if "\0" in line:
            flaws.append(Flaw(lineno, "a NUL character ends the line for Asterisk"))
            line = line[: line.index("\0")]
        kept = comments.strip(line, lineno, flaws)
        items += flaws
        if any(f.fatal for f in flaws) and not keep_going:
            return items
        if kept is None:
            continue
        body = kept.strip(BLANKS)
        if not body:
            continue
        item = _line(body, lineno, sections, in_section)
        append(item)
        # A header (even one Asterisk refuses, when reading on) opens a section.
        if isinstance(item, Header) or body[0] == "[":
            in_section = True
        if isinstance(item, Flaw) and item.fatal and not keep_going:
            return items
    if comments.depth > 0:
        items.append(
            Flaw(comments.opened[0] if comments.opened else 0, "unterminated block comment")
        )
    return items


def _line(cur: str, lineno: int, sections: set[str], in_section: bool) -> Item:
    """process_text_line for one stripped, uncommented, non-empty line."""
    if cur[0] == "[":
        close = cur.find("]")
        if close < 0:
            return Flaw(lineno, "no closing ']'", True)
        name = cur[1:close]
        rest = cur[close + 1 :]
        options: tuple[str, ...] | None = None
        if rest.startswith("("):
            end = rest.find(")", 1)
            if end < 0:
                return Flaw(lineno, "no closing ')'", True)
            options = tuple(rest[1:end].split(","))
            for option in options:
                if option == "!":
                    continue
                base = name if option.startswith("+") else option
                if base not in sections:
                    return Flaw(
                        lineno, f"section [{base}] to add to or inherit from is unknown", True
                    )
        sections.add(name)
        return Header(lineno, name, options)
    if cur[0] == "#":
        end = 1
        while end < len(cur) and " " < cur[end] < "\x80":  # signed char: non-ASCII ends it
            end += 1
        name = cur[1:end]
        argument = _strip(cur[end + 1 :]) if end < len(cur) else ""
        if name.lower() not in ("include", "tryinclude", "exec"):
            return Flaw(lineno, f"unknown directive #{name}")
        if not argument:
            return Flaw(lineno, f"#{name} without an argument")
        return Directive(lineno, name.lower(), argument)
    if not in_section:
        return Flaw(lineno, "an option before any section", True)
    escaped = cur[0] == "\\"
    if escaped:
        cur = cur[1:]
        if not cur or not "!" <= cur[0] < "\x80":  # signed char: non-ASCII is below 33
            return Flaw(lineno, "invalid escape", True)
    equals = cur.find("=", 1 if escaped else 0)
    if equals < 0:
        return Flaw(lineno, "no '=' in the line")
    if equals > (1 if escaped else 0) and cur[equals - 1] == "+":
        name = _strip(cur[: equals - 1])
        if not name:
            return Flaw(lineno, "no option name")
        return Setting(lineno, name, cur[equals + 1 :], append=True)
    value = cur[equals + 1 :]
    arrow = value.startswith(">")
    if arrow:
        value = value[1:]
    name = _strip(cur[:equals])
    if not name:
        return Flaw(lineno, "no option name")
    return Setting(lineno, name, _strip(value), arrow=arrow)


Structure = list[tuple[Header, list[Setting]]]


def structure(items: list[Item]) -> tuple[Structure, list[Item]]:
    """Sections with their settings, and everything else found (directives, flaws)."""
    sections: Structure = []
    other: list[Item] = []
    for item in items:
        if isinstance(item, Header):
            sections.append((item, []))
        elif isinstance(item, Setting) and sections:
            sections[-1][1].append(item)
        else:
            other.append(item)
    return sections, other
