"""pydantic's validation errors as the loader's messages: short, in the user's terms (a YAML
number that must be quoted, an unknown key with the closest known one), located by `Sources`.
"""

from __future__ import annotations

import difflib
import itertools
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from supervisor.site.errors import Problem
from supervisor.site.limits import MAX_PROBLEMS
from supervisor.site.model import Site
from supervisor.site.sources import Sources
from supervisor.site.yamlsource import Path


def _field_type(model: type[BaseModel], path: Sequence[str | int]) -> Any:
    """The annotation reached by following `path` from `model` (None if it cannot be followed)."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) is tuple:
            current = typing.get_args(current)[0]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "string_type":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"must be a string: quote it (YAML reads {shown} as a number)"
        return f"must be a string, not {shown}"
    if kind == "int_type":
        return f"must be a whole number, not {shown}"
    if kind == "bool_type":
        return f"must be true or false, not {shown}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, not {shown}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"{shown} has characters that are not allowed here"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping (key: value), not {shown}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, not {shown}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def validation_problems(errors: Iterable[Any], sources: Sources) -> list[Problem]:
    problems = []
    for error in itertools.islice(errors, MAX_PROBLEMS + 1):
        path: Path = tuple(p for p in error["loc"] if p != "[key]")
        message = _message(error)
        if error["type"] == "extra_forbidden":
            fields = _field_type(Site, path[:-1])
            if isinstance(fields, type) and issubclass(fields, BaseModel):
                close = difflib.get_close_matches(str(path[-1]), list(fields.model_fields), n=1)
                allowed = ", ".join(fields.model_fields)
                message += f"; did you mean {close[0]!r}?" if close else f" (known: {allowed})"
        problems.append(sources.problem(path, message))
    return problems
