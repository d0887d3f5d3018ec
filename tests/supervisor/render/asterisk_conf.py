"""A small reader of Asterisk's config syntax, written from main/config.c, for the tests: a line
is a comment (`;`, with `\\;` a literal semicolon), a `[section]` (optionally `(template)`), or
`key = value` / `key => value` split at the first `=`, both sides stripped of white space."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Section:
    name: str
    options: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        values = [v for k, v in self.options if k == key]
        return values[-1] if values else None


class ConfError(ValueError):
    """A line Asterisk would not read as a section, an option or a comment."""


def _uncomment(line: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == ";":
            if out and out[-1] == "\\":
                out[-1] = ";"
                i += 1
                continue
            break
        out.append(line[i])
        i += 1
    return "".join(out)


def parse(text: str) -> list[Section]:
    sections: list[Section] = []
    # Asterisk splits lines at \n only; a \r would stay inside a value, so treat it as a break.
    for raw in text.replace("\r", "\n").split("\n"):
        line = _uncomment(raw).strip()
        if not line:
            continue
        if line.startswith("#"):
            raise ConfError(f"directive: {raw!r}")
        if line.startswith("["):
            end = line.find("]")
            if end < 0:
                raise ConfError(f"unterminated section: {raw!r}")
            sections.append(Section(line[1:end]))
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfError(f"no '=': {raw!r}")
        if not sections:
            raise ConfError(f"option before any section: {raw!r}")
        value = value[1:] if value.startswith(">") else value
        sections[-1].options.append((key.strip(), value.strip()))
    return sections


def structure(sections: list[Section]) -> list[tuple[str, ...]]:
    """The shape of a file without its names and values: each section's option keys, in order."""
    return [tuple(k for k, _ in s.options) for s in sections]


def find(sections: list[Section], name: str, kind: str | None = None) -> Section:
    for section in sections:
        if section.name == name and (kind is None or section.get("type") == kind):
            return section
    raise KeyError(f"no section [{name}] of type {kind}")
