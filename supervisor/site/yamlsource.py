"""YAML text -> plain Python values plus the file and line of every key path.

Built straight from the parser's event stream (libyaml's when PyYAML has it), never through
PyYAML's constructors, so nothing in a file can pick a Python type or surprise a reader:

- Anchors, aliases (also as mapping keys), merge keys and tags on any node (`!!set`,
  `!!python/object:...`, `!foo`, even `!!str`) are refused.
- Mapping keys are kept as written (`0301:` stays the string "0301").
- Plain values follow the YAML 1.2 core schema, but only where YAML 1.1 reads them the same way:
  `null`/`~`/empty, `true`/`false`, plain decimal integers and decimals. Every other form that
  either version would read as a number, boolean, null or date (`011704`, `0x1e`, `0o17`,
  `1_000`, `1:30`, `1e3`, `.inf`, `yes`, `on`, `2024-01-01`) is refused as ambiguous: quote it.
- Depth, value and key size, entries per collection and integer digits are bounded
  (supervisor/site/limits.py); a bound crossed is one located problem, and the rest of the file
  is skipped without recursion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from supervisor.site.errors import Problem
from supervisor.site.limits import (
    MAX_COLLECTION,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_KEY_CHARS,
    MAX_SCALAR_CHARS,
)

Path = tuple[str | int, ...]


class Origin(NamedTuple):
    """Where a key was written; for a key whose value is a quoted or block scalar, also the line
    where the value starts and its style (`|`, `>`, `"` or `'`): the lines of a raw snippet
    are counted from there."""

    file: str
    line: int
    value_line: int | None = None
    style: str | None = None


@dataclass
class Document:
    """One YAML file's top-level mapping and the origin of each key path in it.

    `dropped` holds the key paths whose value was refused (their problem is already reported);
    `complete` is False when the file could not be read to its end (a syntax error)."""

    file: str
    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[Path, Origin] = field(default_factory=dict)
    dropped: set[Path] = field(default_factory=set)
    complete: bool = True


Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULL = frozenset({"", "~", "null", "Null", "NULL"})
# YAML 1.1's one-letter booleans (PyYAML reads them as strings, other YAML 1.1 readers do not).
_LETTER_BOOLS = frozenset("yYnN")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\.[0-9]+")
# YAML 1.2 core forms (beyond the accepted ones) and YAML 1.1 forms of non-strings.
_CORE_OTHER_RE = re.compile(
    r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_RESOLVER: Any = yaml.resolver.Resolver()  # YAML 1.1's rules, to spot what it reads apart
# One pattern for every YAML 1.1 implicit type but str (built from PyYAML's own resolvers), so
# the common string is told apart in one C-level match before asking the resolver which type.
_YAML11_TYPED = re.compile(
    "|".join(
        sorted(
            {
                f"(?:{rx.pattern})"
                for resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.values()
                for _, rx in resolvers
            }
        )
    ),
    re.X,
)
_STR_TAG = "tag:yaml.org,2002:str"
_VALUE_TAG = "tag:yaml.org,2002:value"
_KINDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "null": "null",
    "timestamp": "a date",
    "str": "text",
}
_LOOKS_TYPED = frozenset("0123456789+-.~:yYnNoOtTfF")


class _Stop(Exception):
    """A bound was crossed: the rest of the file is not read."""


class _Reader:
    def __init__(self, file: str, loader: Any) -> None:
        self.file = file
        self.loader = loader
        self.origins: dict[Path, Origin] = {}
        self.dropped: set[Path] = set()
        self.problems: list[Problem] = []

    def problem(self, line: int, path: Path, message: str) -> None:
        self.problems.append(Problem(self.file, line, key_name(path), message))

    def refused(self, event: Any, path: Path) -> str | None:
        """Why a node's decoration is refused (alias, anchor, tag), or None."""
        if isinstance(event, yaml.AliasEvent):
            return "anchors and aliases (*name) are not supported"
        if event.anchor is not None:
            return "anchors and aliases (&name) are not supported"
        if event.tag is not None:
            return f"tags ({_show(event.tag)}) are not supported"
        return None

    def node(self, path: Path, depth: int) -> tuple[Any, bool]:
        """The next node's value, and whether it is usable (False: a problem was reported)."""
        return self.value(self.loader.get_event(), path, depth)

    def value(self, event: Any, path: Path, depth: int) -> tuple[Any, bool]:
        """The value of the node `event` starts."""
        kind = type(event)
        if event.anchor is not None or kind is yaml.AliasEvent or event.tag is not None:
            self.problem(event.start_mark.line + 1, path, self.refused(event, path) or "")
            self.skip(event)
            return None, False
        if kind is yaml.ScalarEvent:
            return self.scalar(event, path, event.start_mark.line + 1)
        if depth >= MAX_DEPTH:
            self.problem(event.start_mark.line + 1, path, f"nested deeper than {MAX_DEPTH} levels")
            raise _Stop
        if kind is yaml.MappingStartEvent:
            return self.mapping(path, depth + 1), True
        items: list[Any] = []
        ok = True
        get = self.loader.get_event
        origins = self.origins
        while True:
            item = get()
            if type(item) is yaml.SequenceEndEvent:
                break
            index = len(items)
            if index >= MAX_COLLECTION:
                self.problem(event.start_mark.line + 1, path, f"more than {MAX_COLLECTION:,} items")
                raise _Stop
            here = (*path, index)
            origins[here] = Origin(self.file, item.start_mark.line + 1)
            value, usable = self.value(item, here, depth + 1)
            ok = ok and usable
            items.append(value)
        if not ok:
            # A list with a refused item is dropped whole: validating the rest would renumber.
            self.dropped.add(path)
            return None, False
        return items, True

    def mapping(self, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first: dict[str, int] = {}
        get = self.loader.get_event
        origins = self.origins
        while True:
            event = get()
            kind = type(event)
            if kind is yaml.MappingEndEvent:
                return result
            line = event.start_mark.line + 1
            why = None
            if kind is not yaml.ScalarEvent or event.anchor is not None or event.tag is not None:
                why = self.refused(event, path) or "a key must be a plain value"
            elif len(event.value) > MAX_KEY_CHARS:
                why = f"a key longer than {MAX_KEY_CHARS} characters"
            elif event.value == "<<" and event.implicit[0]:
                why = "merge keys (<<) are not supported"
            if why is not None:
                self.problem(line, path, why)
                self.skip(event)
                self.skip(get())  # its value
                self.dropped.add(path)
                continue
            if len(result) >= MAX_COLLECTION:
                self.problem(line, path, f"more than {MAX_COLLECTION:,} keys")
                raise _Stop
            key = event.value
            here = (*path, key)
            if key in first:
                self.problem(line, here, f"duplicate key (first given at line {first[key]})")
                self.skip(get())
                continue
            first[key] = line
            start = get()
            if type(start) is yaml.ScalarEvent and start.style and start.start_mark is not None:
                origins[here] = Origin(self.file, line, start.start_mark.line + 1, start.style)
            else:
                origins[here] = Origin(self.file, line)
            value, usable = self.value(start, here, depth)
            if usable:
                result[key] = value
            else:
                self.dropped.add(here)

    def skip(self, event: Any) -> None:
        """Consume the rest of a node whose start `event` was read (iteratively: no recursion)."""
        level = 1 if isinstance(event, yaml.CollectionStartEvent) else 0
        while level:
            event = self.loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                level += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                level -= 1

    def scalar(self, event: Any, path: Path, line: int) -> tuple[Any, bool]:
        value: str = event.value
        if len(value) > MAX_SCALAR_CHARS:
            self.problem(line, path, f"a value longer than {MAX_SCALAR_CHARS:,} characters")
            return None, False
        if not event.implicit[0] or event.style:
            return value, True  # quoted or block: a string, as written
        typed, why = resolve_plain(value)
        if why is not None:
            self.problem(line, path, why)
            return None, False
        return typed, True


def resolve_plain(value: str) -> tuple[Any, str | None]:
    """A plain (unquoted) scalar's value, or the reason it is refused as ambiguous."""
    if value in _NULL:
        return None, None
    if value in _BOOL:
        return _BOOL[value], None
    if not value or value[0] not in _LOOKS_TYPED or value.count(".") > 1:
        # Two dots (an IPv4 address, a host name) make no number or date in either version.
        return value, None
    if value in _LETTER_BOOLS:
        return None, (f"{_show(value)} is ambiguous (YAML 1.1 reads it as true or false): quote it")
    if _INT_RE.fullmatch(value):
        digits = len(value.lstrip("+-"))
        if digits > MAX_INT_DIGITS:
            return None, f"a number with more than {MAX_INT_DIGITS} digits"
        return int(value), None
    if _FLOAT_RE.fullmatch(value):
        if len(value) > 2 * MAX_INT_DIGITS:
            return None, f"a number with more than {2 * MAX_INT_DIGITS} digits"
        return float(value), None
    core = _CORE_OTHER_RE.fullmatch(value)
    if not core and not _YAML11_TYPED.match(value):
        return value, None
    yaml11 = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
    if yaml11 not in (_STR_TAG, _VALUE_TAG) or core:
        kind = _KINDS.get(yaml11.rsplit(":", 1)[-1], "a number")
        return None, (
            f"{_show(value)} is ambiguous (YAML 1.1 reads it as {kind}, YAML 1.2 "
            f"differently): quote it as a string, or write a plain decimal number"
        )
    return value, None


def _show(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57] + "...")


def key_name(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse(file: str, text: str) -> tuple[Document, list[Problem]]:
    """Parse one YAML file: its values, the line of each key path, and every problem found."""
    loader = Loader(text)
    reader = _Reader(file, loader)
    data: dict[str, Any] = {}
    complete = True
    try:
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return Document(file), []
        loader.get_event()  # document start
        event = loader.peek_event()
        if isinstance(event, yaml.MappingStartEvent) and reader.refused(event, ()) is None:
            loader.get_event()
            data = reader.mapping((), 1)
        elif isinstance(event, yaml.ScalarEvent) and event.value == "" and event.implicit[0]:
            loader.get_event()  # an empty document (only comments)
        else:
            why = reader.refused(event, ()) or "the file must be a mapping of keys"
            reader.problem(event.start_mark.line + 1, (), why)
            complete = False
        if complete:
            loader.get_event()  # document end
            if not loader.check_event(yaml.StreamEndEvent):
                line = loader.peek_event().start_mark.line + 1
                reader.problem(line, (), "a site file holds one YAML document (found a second)")
                complete = False
    except _Stop:
        complete = False
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        detail = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        reader.problems.append(Problem(file, line, "", f"YAML syntax: {detail}"))
        complete = False
    except yaml.YAMLError as exc:
        reader.problems.append(Problem(file, None, "", f"YAML syntax: {exc}"))
        complete = False
    finally:
        loader.dispose()
    document = Document(file, data, reader.origins, reader.dropped, complete)
    return document, reader.problems
