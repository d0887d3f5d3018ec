"""A reader for Asterisk's config file syntax, enough to know what a rendered file declares.

Sections `[name]`, templates `[name](!)` and inheritance `[name](tpl,...)`, `key = value` and
`key => value`, `;` comments (`\\;` is a literal semicolon), `;-- --;` block comments. Directives
(`#include`, `#exec`) are ignored: the renderer does not emit them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

_SECTION = re.compile(r"^\[([^\]]+)\]\s*(?:\(([^)]*)\))?\s*$")


@dataclass
class Section:
    """One section occurrence (names repeat: pjsip.conf's `[doorbell]` endpoint and identify)."""

    name: str
    options: list[tuple[str, str]] = field(default_factory=list)
    template: bool = False

    def get(self, key: str) -> str | None:
        """The last value of `key` (later lines override earlier ones, as in Asterisk)."""
        value = None
        for k, v in self.options:
            if k == key:
                value = v
        return value


_COMMENT = re.compile(r"(?<!\\);")


def _strip_comment(line: str) -> str:
    if ";" not in line:
        return line.strip()
    return _COMMENT.split(line, maxsplit=1)[0].replace("\\;", ";").strip()


@functools.lru_cache(maxsize=32)
def parse(text: str) -> list[Section]:
    """Sections in file order, templates applied; template sections are marked, not dropped.
    Cached (the same rendered text is read by several checks): treat the result as read-only."""
    sections: list[Section] = []
    by_name: dict[str, Section] = {}
    current: Section | None = None
    in_block = False
    for raw in text.splitlines():
        line = raw
        if in_block:
            if "--;" not in line:
                continue
            line = line.split("--;", 1)[1]
            in_block = False
        if ";--" in line:
            head, _, tail = line.partition(";--")
            if "--;" in tail:
                line = head + tail.split("--;", 1)[1]
            else:
                line = head
                in_block = True
        line = _strip_comment(line)
        if not line or line.startswith("#"):
            continue
        match = _SECTION.match(line)
        if match:
            name = match.group(1).strip()
            flags = [f.strip() for f in (match.group(2) or "").split(",") if f.strip()]
            current = Section(name=name, template="!" in flags)
            for parent in flags:
                if parent not in ("!", "+") and parent in by_name:
                    current.options.extend(by_name[parent].options)
            sections.append(current)
            by_name[name] = current
            continue
        if current is None:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value[1:] if value.startswith(">") else value
        current.options.append((key.strip(), value.strip()))
    return sections


def objects(text: str, kind: str) -> dict[str, Section]:
    """pjsip.conf objects of one `type` (endpoint, registration, auth, transport, aor), by name."""
    return {
        s.name: s for s in parse(text) if not s.template and (s.get("type") or "").strip() == kind
    }


@dataclass(frozen=True)
class Dialplan:
    """What extensions.conf declares: context -> extension -> application names in order."""

    contexts: dict[str, dict[str, list[str]]]


_NOT_CONTEXTS = {"general", "globals"}


def dialplan(text: str) -> Dialplan:
    contexts: dict[str, dict[str, list[str]]] = {}
    for section in parse(text):
        if section.template or section.name.lower() in _NOT_CONTEXTS:
            continue
        extens = contexts.setdefault(section.name, {})
        last: str | None = None
        for key, value in section.options:
            if key not in ("exten", "same"):
                continue
            parts = value.split(",", 2)
            if key == "exten":
                if len(parts) < 3:
                    continue
                last = parts[0].strip().split("/", 1)[0]
                priority, app = parts[1], parts[2]
            else:
                if last is None or len(parts) < 2:
                    continue
                priority, app = parts[0], ",".join(parts[1:])
            if priority.strip().lower() == "hint":
                continue
            name = app.strip().split("(", 1)[0].strip()
            extens.setdefault(last, []).append(name)
    return Dialplan(contexts={c: e for c, e in contexts.items() if e})
