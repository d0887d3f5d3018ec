"""The site files merged into one document, with where each key was written.

Several files may each contribute entries to the named collections (`MERGEABLE`); any other
top-level key is given once. `Sources` keeps every key path's origin (file, line), what parsing
refused, and turns a key path and a message into a located `Problem`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supervisor.site.errors import Problem
from supervisor.site.yamlsource import Document, Origin, Path, key_name

# Named collections that several files may each contribute entries to.
MERGEABLE = ("transports", "trunks", "endpoints")


@dataclass
class Sources:
    """The merged data of the site files, each key path's origin, and what was refused."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[Path, Origin] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    #: Key paths whose value was refused while parsing (their problem is reported already).
    dropped: set[Path] = field(default_factory=set)
    #: Every prefix of a dropped path (built on first use by `hides`).
    _above_dropped: set[Path] | None = None
    #: False when some file (or part of the top level) could not be read.
    complete: bool = True

    def locate(self, path: Path) -> Origin | None:
        for end in range(len(path), 0, -1):
            origin = self.origins.get(path[:end])
            if origin is not None:
                return origin
        return None

    def problem(self, path: Path, message: str) -> Problem:
        origin = self.locate(path)
        file = origin.file if origin else (self.files[0] if self.files else "site")
        return Problem(file, origin.line if origin else None, key_name(path), message)

    def merge(self, doc: Document) -> list[Problem]:
        """Add one file's keys; each origin is copied once (linear in the file's size)."""
        self.complete &= doc.complete and () not in doc.dropped
        self.dropped |= doc.dropped - {()}
        self._above_dropped = None
        problems = []
        refused: set[Path] = set()  # entries not taken (a name or key given before)
        for key, value in doc.data.items():
            here = doc.origins[(key,)]
            if key in MERGEABLE and isinstance(value, dict) and key in self.data:
                existing = self.data[key]
                if not isinstance(existing, dict):
                    refused.add((key,))
                    continue
                for name, item in value.items():
                    if name in existing:
                        first = self.origins[(key, name)]
                        line = doc.origins[(key, name)].line
                        problems.append(
                            Problem(
                                doc.file,
                                line,
                                key_name((key, name)),
                                f"duplicate name (also at {first.file}:{first.line})",
                            )
                        )
                        refused.add((key, name))
                        continue
                    existing[name] = item
            elif key in self.data:
                first = self.origins[(key,)]
                problems.append(
                    Problem(
                        doc.file,
                        here.line,
                        key,
                        f"given in two files (also at {first.file}:{first.line})",
                    )
                )
                refused.add((key,))
            else:
                self.data[key] = value
        # Every origin of what was taken, in one pass (linear in the file's size); a merged
        # collection keeps the line where it was first given.
        setdefault = self.origins.setdefault
        if not refused:
            for path, origin in doc.origins.items():
                setdefault(path, origin)
        else:
            for path, origin in doc.origins.items():
                if path[:1] not in refused and path[:2] not in refused:
                    setdefault(path, origin)
        return problems

    def hides(self, path: Path, kind: str) -> bool:
        """Whether a validation error at `path` may come from what parsing refused."""
        if kind == "missing" and not self.complete:
            return True
        # At or below a dropped path, or above one: a few set lookups per error (comparing
        # every error with every dropped path was quadratic: issue 26).
        if self._above_dropped is None:
            self._above_dropped = {d[:end] for d in self.dropped for end in range(len(d) + 1)}
        if path in self._above_dropped:
            return True
        return any(path[:end] in self.dropped for end in range(len(path)))
