"""Generated section names have one owner (supervisor/site/sections.py): every section the
renderer writes is one the checks know as generated (so a raw snippet cannot take it over), and
the AMI side labels a trunk's calls by the endpoint the renderer named for it."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.paths import REPO
from supervisor.ami.calls import Calls
from supervisor.render import RenderContext, render
from supervisor.site import sections
from supervisor.site.checks import generated_sections
from supervisor.site.load import LoadedSite, load_site_dirs
from supervisor.site.raw import raw_sections
from tests.supervisor.render.special import pattern_regex
from tests.supervisor.site.flowsite import SECRETS, flow_site
from tests.supervisor.site.sites import load_dict

CONTEXT = RenderContext(ami_secret="x")
EXAMPLES = REPO / "examples"


def example(name: str) -> LoadedSite:
    return load_site_dirs([EXAMPLES / name / "site"], [EXAMPLES / name / "secrets"])


SITES = {
    **{name: example for name in ("home", "ipv4-only", "two-trunks")},
    "flows": lambda _name: load_dict(flow_site(), SECRETS),
}


@pytest.mark.parametrize("name", sorted(SITES))
def test_every_rendered_section_is_known_as_generated(name: str) -> None:
    """pjsip.conf (with a ban's ACL) and extensions.conf hold no section the checks do not
    count as generated: a raw snippet could not redefine it unnoticed."""
    loaded = SITES[name](name)
    blocked = (ipaddress.ip_network("198.51.100.66/32"),)
    files = render(loaded, CONTEXT, blocked)
    for file in ("pjsip.conf", "extensions.conf"):
        written = set(raw_sections(files[file]))
        assert written, file
        assert written <= generated_sections(loaded.site, file), (file, written)
    assert sections.BLOCKED_ACL in raw_sections(files["pjsip.conf"])


def test_trunk_calls_are_labelled_by_the_endpoint_the_renderer_names() -> None:
    """The calls' trunk map (followed from the live config) is keyed by each trunk's rendered
    PJSIP endpoint and names the trunk."""
    loaded = example("two-trunks")

    class Applied:
        site = loaded.site

    calls = Calls()
    calls.on_config(Applied())
    endpoints = set(raw_sections(render(loaded, CONTEXT)["pjsip.conf"]))
    assert set(calls.trunks) <= endpoints
    assert {calls.trunks[sections.trunk_endpoint(t)] for t in loaded.site.trunks} == set(
        loaded.site.trunks
    )


@settings(max_examples=500, deadline=None, derandomize=True)
@given(number=st.text(alphabet="0123456789*#+-&,/ hstTiaeoxyzAB\u00e9", max_size=6))
def test_caught_is_what_asterisk_matches_with_the_catch_all_patterns(number: str) -> None:
    """`caught()` (explain's model) agrees with the rendered CATCH_ALL patterns, matched as
    Asterisk does; no single special letter but `s` is caught."""
    patterns = [p for p in sections.CATCH_ALL if p.startswith("_")]
    matched = number == "s" or any(pattern_regex(p).fullmatch(number) for p in patterns)
    assert sections.caught(number) == matched
    if len(number) == 1 and number in "hTtieao":
        assert not sections.caught(number)
