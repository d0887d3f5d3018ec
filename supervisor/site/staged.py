"""Validating a site with a bounded number of errors.

pydantic reports every error of a document, and building each costs microseconds: a 2 MB site
with a wrong value in every entry would spend seconds on errors nobody reads past the first
thousand. So the large collections (endpoints, trunks, ring groups, extensions) are validated
entry by entry first, stopping once MAX_PROBLEMS errors are found; the valid entries are then
handed to the whole-site validation as model instances, which pydantic does not validate again.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import TypeAdapter, ValidationError

from supervisor.site.limits import MAX_PROBLEMS
from supervisor.site.model import Dialplan, Site

Error = dict[str, Any]


def _value_type(model: Any, name: str) -> Any:
    """The value type of the `dict[key, value]` field `name` of `model` (keeping Annotated)."""
    annotation = model.model_fields[name].annotation
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return typing.get_args(annotation)[1]


# (path of the collection, adapter for one entry)
_COLLECTIONS: tuple[tuple[tuple[str, ...], TypeAdapter[Any]], ...] = (
    (("trunks",), TypeAdapter(_value_type(Site, "trunks"))),
    (("endpoints",), TypeAdapter(_value_type(Site, "endpoints"))),
    (("dialplan", "ring_groups"), TypeAdapter(_value_type(Dialplan, "ring_groups"))),
    (("dialplan", "extensions"), TypeAdapter(_value_type(Dialplan, "extensions"))),
)


class Invalid(Exception):
    """The site's field errors (pydantic's error dicts, `loc` from the site's root)."""

    def __init__(self, errors: list[Error]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def validate(data: dict[str, Any]) -> Site:
    """The Site, or Invalid with its errors (at most about MAX_PROBLEMS of them)."""
    errors: list[Error] = []
    failed: set[tuple[Any, ...]] = set()  # entries whose errors are in `errors` already
    staged = dict(data)
    if isinstance(staged.get("dialplan"), dict):
        staged["dialplan"] = dict(staged["dialplan"])
    for path, adapter in _COLLECTIONS:
        parent: dict[str, Any] = staged
        for part in path[:-1]:
            inner = parent.get(part)
            parent = inner if isinstance(inner, dict) else {}
        entries = parent.get(path[-1])
        if not isinstance(entries, dict):
            continue  # the whole-site validation says what is wrong with it
        checked: dict[Any, Any] = {}
        for name, entry in entries.items():
            try:
                checked[name] = adapter.validate_python(entry)
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    errors.append({**error, "loc": (*path, name, *error["loc"])})
                if len(errors) > MAX_PROBLEMS:
                    raise Invalid([e for e in errors if not _follows_item_errors(e)]) from None
                checked[name] = entry  # validated again below only for its key
                failed.add((*path, name))
        parent[path[-1]] = checked
    try:
        site = Site.model_validate(staged)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            entry = next((loc[:n] for n in (2, 3) if loc[:n] in failed), None)
            if entry is None or loc[len(entry) : len(entry) + 1] == ("[key]",):
                errors.append(dict(error))
    if errors:
        raise Invalid([e for e in errors if not _follows_item_errors(e)])
    return site


def _follows_item_errors(error: Error) -> bool:
    """pydantic's "too short after validation" for a list whose items failed: the list was
    long enough as written; the items' own errors say what is wrong."""
    given = error.get("input")
    minimum = (error.get("ctx") or {}).get("min_length")
    return (
        error["type"] == "too_short"
        and isinstance(given, list | tuple)
        and isinstance(minimum, int)
        and len(given) >= minimum
    )
