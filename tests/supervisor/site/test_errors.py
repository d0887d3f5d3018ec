"""Problem and SiteInvalid: the one-line forms users and CI read."""

from __future__ import annotations

from supervisor.site.errors import Problem, SiteInvalid


def test_problem_forms() -> None:
    """A problem prints as file:line: key: message, dropping what is unknown."""
    assert (
        str(Problem("site.yaml", 14, "trunks.provider.registration.expiry", "must be at least 60"))
        == "site.yaml:14: trunks.provider.registration.expiry: must be at least 60"
    )
    assert str(Problem("/secrets/p", None, "", "is binary")) == "/secrets/p: is binary"


def test_site_invalid_sorts_and_dedupes() -> None:
    """SiteInvalid holds every problem once, ordered by file and line."""
    a = Problem("b.yaml", 2, "x", "m")
    b = Problem("a.yaml", 9, "y", "n")
    error = SiteInvalid([a, b, a])
    assert error.problems == [b, a]
    assert str(error).splitlines() == ["2 problems in the site description", str(b), str(a)]
