"""Facts about the Asterisk in the image, read from `asterisk_facts.json`: the modules it has (and
what each needs loaded first), which module provides each dialplan application and function, and
the options of each pjsip.conf object type (with default and documented values).

The file is derived from the installed Asterisk's own documentation XML and module directory by
`lab/asterisk_facts.py` (never hand-copied); a test regenerates it from the lab's root filesystem,
so an Asterisk upgrade that changes a fact shows up as a failing test.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

#: The `module` of an application or function built into Asterisk's core (no module to load).
BUILTIN = "builtin"
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class OptionFact:
    """A documented option of a config object: its default and, when the documentation lists
    them, the values it takes."""

    default: str | None
    values: tuple[str, ...]

    def bad_value(self, value: str) -> str | None:
        """Why `value` is not one of the listed values (a comma-separated list is checked item by
        item), or None. Only plain word lists are checked: some lists describe a syntax."""
        if not self.values or not all(_PLAIN_VALUE.fullmatch(v) for v in self.values):
            return None
        known = {v.lower() for v in self.values}
        for item in value.split(","):
            if item.strip().lower() not in known:
                return f"{item.strip()!r} is not one of {', '.join(self.values)}"
        return None


@dataclass(frozen=True, slots=True)
class ObjectFacts:
    """A config object type (e.g. pjsip.conf `endpoint`): the modules that provide it and its
    options by name."""

    modules: tuple[str, ...]
    options: Mapping[str, OptionFact]


@dataclass(frozen=True)
class AsteriskFacts:
    """What the image's Asterisk has, documents and needs."""

    version: str
    modules: frozenset[str]
    depends: Mapping[str, tuple[str, ...]]
    applications: Mapping[str, tuple[str, ...]]
    functions: Mapping[str, tuple[str, ...]]
    config: Mapping[str, Mapping[str, ObjectFacts]]

    @functools.cached_property
    def _applications_folded(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        return {name.lower(): (name, mods) for name, mods in self.applications.items()}

    def application(self, name: str) -> tuple[str, tuple[str, ...]] | None:
        """(documented name, providing modules) of dialplan application `name` (Asterisk matches
        application names without regard to case), or None when Asterisk has none of that name."""
        return self._applications_folded.get(name.lower())

    def function(self, name: str) -> tuple[str, ...] | None:
        """The modules providing dialplan function `name` (case matters), or None."""
        return self.functions.get(name)

    def closure(self, modules: Iterable[str]) -> list[str]:
        """`modules` and everything they need loaded, each once, dependencies first."""
        out: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for dependency in self.depends.get(name, ()):
                visit(dependency)
            out.append(name)

        for name in modules:
            visit(name)
        return out

    def pjsip(self, kind: str) -> ObjectFacts | None:
        """The pjsip.conf object type `kind` (endpoint, aor, auth, transport, ...), or None."""
        return self.config.get("pjsip.conf", {}).get(kind)


def _parse(data: Mapping[str, Any]) -> AsteriskFacts:
    return AsteriskFacts(
        version=data["asterisk"],
        modules=frozenset(data["modules"]),
        depends={k: tuple(v) for k, v in data["depends"].items()},
        applications={k: tuple(v) for k, v in data["applications"].items()},
        functions={k: tuple(v) for k, v in data["functions"].items()},
        config={
            file: {
                kind: ObjectFacts(
                    modules=tuple(entry["modules"]),
                    options={
                        name: OptionFact(option.get("default"), tuple(option.get("values", ())))
                        for name, option in entry["options"].items()
                    },
                )
                for kind, entry in objects.items()
            }
            for file, objects in data["config"].items()
        },
    )


@functools.cache
def facts() -> AsteriskFacts:
    """The image's facts (read once)."""
    text = resources.files("supervisor").joinpath("asterisk_facts.json").read_text("utf-8")
    return _parse(json.loads(text))
