"""Sections and options of a rendered file for the tests, read by supervisor.confparse (the
reader of Asterisk's config syntax that the output guard uses)."""

from __future__ import annotations

from dataclasses import dataclass, field

from supervisor import confparse


@dataclass
class Section:
    name: str
    options: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        values = [v for k, v in self.options if k == key]
        return values[-1] if values else None


class ConfError(ValueError):
    """A line Asterisk would not read as a section, an option or a comment."""


def parse(text: str) -> list[Section]:
    """The sections Asterisk reads (supervisor.confparse, checked against the real one); a
    directive, a flaw or an option outside a section raises ConfError."""
    sections: list[Section] = []
    for item in confparse.parse(text):
        if isinstance(item, confparse.Header):
            sections.append(Section(item.name))
        elif isinstance(item, confparse.Setting) and sections and not item.append:
            sections[-1].options.append((item.name, item.value))
        else:
            raise ConfError(f"line {item.line}: {item}")
    return sections


def structure(sections: list[Section]) -> list[tuple[str, ...]]:
    """The shape of a file without its names and values: each section's option keys, in order."""
    return [tuple(k for k, _ in s.options) for s in sections]


def find(sections: list[Section], name: str, kind: str | None = None) -> Section:
    for section in sections:
        if section.name == name and (kind is None or section.get("type") == kind):
            return section
    raise KeyError(f"no section [{name}] of type {kind}")
