"""Cross-reference checks (supervisor/site/checks.py) stay linear or n log n in the site's size:
suggestions for unknown names are bounded, and the parse-refusal filter is a set lookup."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor.site.errors import Problem, SiteInvalid
from supervisor.site.limits import MAX_PROBLEMS
from supervisor.site.sources import Sources
from supervisor.site.suggest import MAX_SUGGESTIONS
from tests.supervisor.site.sites import base, load_dict


def problems(site: dict[str, Any]) -> list[str]:
    with pytest.raises(SiteInvalid) as info:
        load_dict(site)
    return [f"{p.key}: {p.message}" for p in info.value.problems]


def test_an_unknown_name_suggests_the_close_one() -> None:
    """A misspelt ring target names the endpoint it was probably meant to be."""
    site = base()
    site["dialplan"]["extensions"]["12"] = "dsek"
    found = problems(site)
    assert len(found) == 1
    assert found[0].startswith("dialplan.extensions.12: unknown endpoint")
    assert found[0].endswith(" 'dsek'; did you mean 'desk'?")


def test_suggestions_stop_after_the_first_hundred_unknown_names() -> None:
    """Past MAX_SUGGESTIONS unknown references the rest are reported without a hint (each
    hint compares the name with every known one)."""
    site = base()
    site["dialplan"]["extensions"] |= {f"{100 + i}": "dsek" for i in range(MAX_SUGGESTIONS + 20)}
    found = problems(site)
    assert len(found) == MAX_SUGGESTIONS + 20
    assert sum("did you mean 'desk'?" in p for p in found) == MAX_SUGGESTIONS
    assert all(p.endswith("'dsek'") for p in found[MAX_SUGGESTIONS:])


paths = st.lists(st.sampled_from(["a", "b", 0, 1]), max_size=4).map(tuple)


@given(dropped=st.sets(paths.filter(bool), max_size=6), path=paths)
def test_hides_is_the_prefix_relation_in_either_direction(
    dropped: set[tuple[str | int, ...]], path: tuple[str | int, ...]
) -> None:
    """An error is hidden exactly when its path is at, below or above a path refused while
    parsing (the set lookup agrees with comparing every pair)."""
    sources = Sources(dropped=set(dropped))
    expected = any(path[: len(d)] == d or d[: len(path)] == path for d in dropped)
    assert sources.hides(path, "value_error") == expected


def test_too_many_ring_groups_is_one_problem_not_every_reference() -> None:
    """1,001 ring groups: "at most 1000 items", and no reference to a group called unknown by
    the second look (the groups were set aside, not missing)."""
    site = base()
    site["dialplan"]["ring_groups"] = {f"g{g}": {"endpoints": ["desk"]} for g in range(1_001)}
    site["dialplan"]["ring_groups"]["all"] = {"endpoints": ["desk"]}
    site["dialplan"]["extensions"] |= {f"{2000 + g}": f"g{g}" for g in range(1_001)}
    assert problems(site) == ["dialplan.ring_groups: must have at most 1000 items"]


def test_the_cap_keeps_root_causes_before_their_consequences() -> None:
    """Past the problem limit, the first look's problems are all listed (even at later lines)
    and the second look's fill only the room left."""
    roots = [Problem("site.yaml", 5_000 + i, "k", f"root {i}") for i in range(10)]
    later = [Problem("site.yaml", i, "k", f"later {i}") for i in range(2 * MAX_PROBLEMS)]
    listed = SiteInvalid(roots, later).problems
    assert len(listed) == MAX_PROBLEMS + 1
    assert set(roots) <= set(listed)
    assert listed[-1].message.startswith(f"more problems not listed (only the first {MAX_PROBLEMS}")
    assert f"at least {2 * MAX_PROBLEMS - (MAX_PROBLEMS - 10)} more" in listed[-1].message
    assert SiteInvalid(roots, later[:5]).problems == sorted(
        roots + later[:5], key=lambda p: (p.file, p.line or 0)
    )
