"""How far identify reaches (supervisor/site/reach.py): a per-site budget of addresses that may
call out without a password, and raw identify/ACL entries held to the typed rules."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.site import ipnet, reach
from supervisor.site.errors import SiteInvalid
from tests.supervisor.site.sites import base, load_dict


def problems(site: dict[str, Any]) -> list[str]:
    with pytest.raises(SiteInvalid) as info:
        load_dict(site)
    return [f"{p.key}: {p.message}" for p in info.value.problems]


def lans(count: int, context: str = "internal") -> dict[str, Any]:
    """`count` endpoints, each identified by its own /48 of 2001:db8::/32."""
    return {
        f"lan{i}": {"identify": [f"2001:db8:{0x1000 + i:x}::/48"], "context": context}
        for i in range(count)
    }


def test_many_narrow_entries_that_can_call_out_are_refused_as_a_whole() -> None:
    """257 endpoints with a /48 each in a context that calls out exceed the budget of 256
    networks, though every entry is narrow enough alone; one problem, at an entry."""
    site = base()
    site["endpoints"] |= lans(257)
    found = problems(site)
    assert found == [
        "endpoints.lan0.identify[0]: the identify entries of endpoints that can call out reach "
        "257 networks of /48 (IPv6) in all, at most 256: anyone in them calls on the site's bill "
        "without a password (give these devices passwords, or a context that cannot call out)"
    ]


def test_the_budget_counts_only_what_can_call_out() -> None:
    """256 such networks are accepted, and any number in a context that cannot call out."""
    site = base()
    site["endpoints"] |= lans(256)
    assert load_dict(site).site.endpoints["lan255"].identify
    site = base()
    site["endpoints"] |= lans(1000, context="local")
    assert load_dict(site).site.endpoints["lan999"].identify


def test_overlaps_are_counted_once() -> None:
    """Nested and repeated networks add their union, not their sum."""
    nets = [ipnet.parse_network(n) for n in ("2001:db8::/48", "2001:db8::/64", "2001:db8::1")]
    assert reach.covered(nets) == 1 << 80
    nets.append(ipnet.parse_network("2001:db8:1::/48"))
    assert reach.covered(nets) == 2 << 80
    assert reach.covered([]) == 0


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "[any]\ntype = identify\nendpoint = provider\nmatch = 0.0.0.0/0\n",
            "line 4 (match in [any]): 0.0.0.0/0 is wider than /16",
        ),
        (
            "[any]\ntype = identify\nendpoint = desk\nmatch = 198.51.100.0/24,2001:db8::/32\n",
            "line 4 (match in [any]): 2001:db8::/32 is wider than /48, and endpoint desk can call "
            "out through a trunk",
        ),
        (
            "[tpl](!)\ntype = identify\nmatch = 2001:db8::/40\n[x](tpl)\nendpoint = desk\n",
            "line 3 (match in [tpl]): 2001:db8::/40 is wider than /48, and its endpoint can",
        ),
        (
            "[guard]\ntype = acl\ndeny = 0.0.0.0/0\npermit = 0.0.0.0/0\n",
            "line 4 (permit in [guard]): 0.0.0.0/0 is wider than /16",
        ),
        (
            "[guard]\ntype = acl\npermit = 198.51.100.0/255.255.255.0\n",
            "give a prefix length (/24), not a netmask",
        ),
        (
            "[odd]\ntype = identify\nendpoint = provider\nmatch = 127.0.0.1\n",
            "127.0.0.1 is a loopback address",
        ),
    ],
)
def test_raw_identify_and_acl_entries_obey_the_typed_rules(snippet: str, message: str) -> None:
    """A raw `match =` or `permit =` is refused where a typed entry would be, with the
    snippet's line and section."""
    site = base()
    site["raw"] = {"pjsip.conf": snippet}
    found = problems(site)
    assert len(found) == 1, found
    assert found[0].startswith("raw.pjsip.conf: ")
    assert message in found[0]


def test_raw_identify_counts_against_the_budget() -> None:
    """Typed and raw entries that can call out share one budget."""
    site = base()
    site["endpoints"] |= lans(200)
    matches = ",".join(f"2001:db8:{0x2000 + i:x}::/48" for i in range(57))
    site["raw"] = {"pjsip.conf": f"[more]\ntype = identify\nendpoint = desk\nmatch = {matches}\n"}
    found = problems(site)
    assert len(found) == 1
    assert "reach 257 networks of /48 (IPv6)" in found[0]
    site["raw"] = {
        "pjsip.conf": f"[more]\ntype = identify\nendpoint = provider\nmatch = {matches}\n"
    }
    assert load_dict(site).site.raw  # a trunk's identify cannot call out: not counted


def test_templates_that_fan_out_are_each_looked_up_once() -> None:
    """Eight layers of ten templates, each inheriting all ten of the layer below (10^8 paths
    to walk one by one): the identify at the top is judged, each template read once."""
    lines = [f"[l8-{i}](!)\ncontext = internal\n" for i in range(10)]
    for layer in range(7, -1, -1):
        below = ",".join(f"l{layer + 1}-{i}" for i in range(10))
        lines += [f"[l{layer}-{i}](!,{below})\nx{layer} = 1\n" for i in range(10)]
    lines.append("[top](l0-0)\ntype = endpoint\n")
    lines.append("[top-id]\ntype = identify\nendpoint = top\nmatch = 2001:db8::/40\n")
    site = base()
    site["raw"] = {"pjsip.conf": "".join(lines)}
    found = problems(site)
    assert len(found) == 1, found
    assert "2001:db8::/40 is wider than /48, and endpoint top can call out" in found[0]


def test_a_long_template_chain_is_followed_to_its_end() -> None:
    """2,000 templates each inheriting the one before: the context at the far end decides
    (one pass in file order, no recursion to exhaust)."""
    lines = ["[t0](!)\ncontext = internal\n"]
    lines += [f"[t{i}](!,t{i - 1})\n" for i in range(1, 2_000)]
    lines.append("[far](t1999)\ntype = endpoint\n")
    lines.append("[far-id]\ntype = identify\nendpoint = far\nmatch = 2001:db8::/40\n")
    site = base()
    site["raw"] = {"pjsip.conf": "".join(lines)}
    found = problems(site)
    assert len(found) == 1, found
    assert "and endpoint far can call out" in found[0]
