"""YAML text -> plain Python values plus the file and line of every key path.

PyYAML's node API keeps a mark per node, so each mapping key and sequence item gets a line.
Mapping keys are kept as written (`0301:` stays the string "0301", not an octal number); values
use YAML's usual types, so a field that needs a string can tell an unquoted number apart.
Anchors and aliases are refused: they are not needed for a site and could multiply its size
(an alias composes to the very node it names, so a node met twice is an alias, caught before it
is expanded). libyaml's parser is used when PyYAML has it (about 20 times faster).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from supervisor.site.errors import Problem

Path = tuple[str | int, ...]
STR_TAG = "tag:yaml.org,2002:str"


class Origin(NamedTuple):
    file: str
    line: int


@dataclass
class Document:
    """One YAML file's top-level mapping and the origin of each key path in it."""

    file: str
    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[Path, Origin] = field(default_factory=dict)


Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Converter:
    def __init__(self, file: str) -> None:
        self.file = file
        self.origins: dict[Path, Origin] = {}
        self.problems: list[Problem] = []
        self.constructor = yaml.constructor.SafeConstructor()
        self.seen: set[int] = set()

    def key_name(self, path: Path) -> str:
        return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")

    def problem(self, node: yaml.Node, path: Path, message: str) -> None:
        line = node.start_mark.line + 1
        self.problems.append(Problem(self.file, line, self.key_name(path), message))

    def convert(self, node: yaml.Node, path: Path, line: int = 1) -> Any:
        if id(node) in self.seen:
            self.problems.append(
                Problem(
                    self.file,
                    line,
                    self.key_name(path),
                    "anchors and aliases (*name) are not supported",
                )
            )
            return None
        self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(key_node, path, "a key must be a plain value")
                    continue
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problem(key_node, path, "merge keys (<<) are not supported")
                    continue
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in first:
                    self.problem(
                        key_node, (*path, key), f"duplicate key (first given at line {first[key]})"
                    )
                    continue
                first[key] = line
                self.origins[(*path, key)] = Origin(self.file, line)
                result[key] = self.convert(value_node, (*path, key), line)
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                # An alias's node carries its anchor's mark: report it at the sequence's line.
                at = line if id(item) in self.seen else item.start_mark.line + 1
                self.origins[(*path, index)] = Origin(self.file, at)
                items.append(self.convert(item, (*path, index), at))
            return items
        assert isinstance(node, yaml.ScalarNode)
        if node.tag == STR_TAG:
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(node, path, f"cannot read this value: {getattr(exc, 'problem', exc)}")
            return None


def parse(file: str, text: str) -> tuple[Document, list[Problem]]:
    """Parse one YAML file; a syntax error gives one problem with its line."""
    loader = Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        return Document(file), [Problem(file, line, "", f"YAML syntax: {detail}")]
    except yaml.YAMLError as exc:
        return Document(file), [Problem(file, None, "", f"YAML syntax: {exc}")]
    finally:
        loader.dispose()
    if root is None:
        return Document(file), []
    if not isinstance(root, yaml.MappingNode):
        line = root.start_mark.line + 1
        return Document(file), [Problem(file, line, "", "the file must be a mapping of keys")]
    converter = _Converter(file)
    data = converter.convert(root, ())
    return Document(file, data, converter.origins), converter.problems
