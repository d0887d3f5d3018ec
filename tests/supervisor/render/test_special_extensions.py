"""No generated pattern matches a special extension name (h, T, i, t, e, a, o, s), so
a hang-up, a timeout or invalid input never runs a route again (examples, flows, property)."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.confparse import parse
from supervisor.render import RenderContext, render
from supervisor.site.load import load_site_dirs
from tests.supervisor.render.special import pattern_regex, patterns, special_matches
from tests.supervisor.site.flowsite import SECRETS, flow_site
from tests.supervisor.site.sites import load_dict

EXAMPLES = Path(__file__).parents[3] / "examples"
CONTEXT = RenderContext(ami_secret="x")


def test_the_pattern_model_matches_as_asterisk_does() -> None:
    """The test's own model of Asterisk patterns: X, Z, N, classes, `.` (one or more), `!`."""
    assert pattern_regex("_0ZX.").fullmatch("0301234")
    assert not pattern_regex("_0ZX.").fullmatch("030")
    assert pattern_regex("_[0-9a-zA-Z*#+]!").fullmatch("h")  # the old catch-all: the bug
    assert not pattern_regex("_[a-zA-Z][0-9a-zA-Z*#+]!").fullmatch("h")
    assert pattern_regex("_[a-zA-Z][0-9a-zA-Z*#+]!").fullmatch("doorbell")
    assert pattern_regex("_[0-9*#+]!").fullmatch("1")


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_examples_render_no_pattern_that_runs_as_a_special_extension(example: str) -> None:
    """Every example's dialplan: outbound routes, the doorbell's catch-all, DIDs."""
    loaded = load_site_dirs([EXAMPLES / example / "site"], [EXAMPLES / example / "secrets"])
    items = parse(render(loaded, CONTEXT)["extensions.conf"])
    assert patterns(items)  # outbound routes, the doorbell: there is something to check
    assert special_matches(items) == []


def test_flows_render_no_pattern_that_runs_as_a_special_extension() -> None:
    """Menus (direct dialling), time conditions, announcements, screening, the `any` route and a
    doorbell ringing one phone."""
    site = flow_site()
    site["dialplan"]["doorbell"] = {"ring": "kitchen"}
    items = parse(render(load_dict(site, SECRETS), CONTEXT)["extensions.conf"])
    contexts = {context for context, _ in patterns(items)}
    assert {"doorbell", "from-provider"} <= contexts  # the catch-alls are there, and checked
    assert special_matches(items) == []
