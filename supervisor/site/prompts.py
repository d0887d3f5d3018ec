"""The prompts Asterisk's own sound packages install (a generated list: `python -m lab.prompts`).
A menu or announcement naming anything else would play nothing and hang up: `check` refuses it."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def installed() -> frozenset[str]:
    text = resources.files("supervisor.site").joinpath("prompts.txt").read_text()
    return frozenset(
        line for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
