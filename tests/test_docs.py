"""The generated references in docs/ match the code, and the README's commands are the real ones."""

from __future__ import annotations

import re

from lab import reference
from lab.paths import REPO

README = (REPO / "README.md").read_text()
FIX = "run `python -m lab.reference write` and commit docs/"


def test_configuration_reference_is_up_to_date() -> None:
    """docs/configuration.md is what the site model generates (every field, type, default)."""
    assert (REPO / "docs" / "configuration.md").read_text() == reference.config_reference(), FIX


def test_cli_reference_is_up_to_date() -> None:
    """docs/cli.md is exactly the --help of the program and of every subcommand."""
    assert (REPO / "docs" / "cli.md").read_text() == reference.cli_reference(), FIX


def test_readme_names_every_subcommand_and_the_two_commands() -> None:
    """The README mentions each subcommand and gives the run and test commands CI uses."""
    for name in ("run", "check", "render", "addresses"):
        assert re.search(rf"asterisk-supervisor {name}\b", README), name
    assert "./scripts/run.sh" in README
    assert "./scripts/test.sh" in README
    assert "./scripts/test.sh" in (REPO / ".ci" / "run").read_text()
