"""Problems found in a site description, each naming its file, line and key path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from supervisor.printable import escape as escape
from supervisor.site.limits import MAX_PROBLEMS


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: `file` (a mount key like site.yaml), 1-based `line` if known, dotted `key`."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        # Every part may hold text from the input (a key with a newline, a file name): escaped,
        # so one problem is always one line and cannot forge another.
        file, key, message = escape(self.file), escape(self.key), escape(self.message)
        where = file if self.line is None else f"{file}:{self.line}"
        if key:
            return f"{where}: {key}: {message}"
        return f"{where}: {message}"

    def as_dict(self) -> dict[str, str | int | None]:
        return {"file": self.file, "line": self.line, "key": self.key, "message": self.message}


def sort_key(problem: Problem) -> tuple[str, int, str, str]:
    return (problem.file, problem.line or 0, problem.key, problem.message)


class SiteInvalid(Exception):
    """The site cannot be used; `problems` lists every problem found, in file/line order.

    `followups` are problems found by a second look at what did validate: they are listed only
    while the limit leaves room after `problems`, so the cap never cuts a root cause in favour
    of its consequences."""

    def __init__(self, problems: Iterable[Problem], followups: Iterable[Problem] = ()) -> None:
        roots = sorted(set(problems), key=sort_key)
        listed = set(roots)
        later = sorted({p for p in followups if p not in listed}, key=sort_key)
        # Past the limit, the rest would only bury the first ones (and cost time).
        kept = roots[:MAX_PROBLEMS] + later[: max(0, MAX_PROBLEMS - len(roots))]
        rest = len(roots) + len(later) - len(kept)
        found = sorted(kept, key=sort_key)
        if rest:
            found.append(
                Problem(
                    found[-1].file,
                    None,
                    "",
                    f"more problems not listed (only the first {MAX_PROBLEMS} are, at least "
                    f"{rest} more): fix these first",
                )
            )
        self.problems: list[Problem] = found
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the site description")

    def __str__(self) -> str:
        return "\n".join([self.args[0], *(str(p) for p in self.problems)])
