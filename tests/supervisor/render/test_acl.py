"""The ban ACL's rendering: packed deny values within Asterisk's line length."""

from __future__ import annotations

import ipaddress

from supervisor.render import RenderContext, render, with_bans
from supervisor.render.acl import LINE_CHARS, acl_section, ordered, pack, render_acl
from supervisor.security.events import NetworkList, order
from tests.supervisor.site.sites import base, load_dict


def test_pack_joins_entries_into_values_no_longer_than_the_limit() -> None:
    """Entries are joined by ',' in order, each value at most `limit` characters."""
    entries = [f"2001:db8:{i:x}::/64" for i in range(1000)]
    values = pack(entries, limit=100)
    assert all(len(v) <= 100 for v in values)
    assert [e for v in values for e in v.split(",")] == entries
    assert len(values) > 1


def test_an_entry_longer_than_the_limit_gets_a_value_of_its_own() -> None:
    """A single over-long entry is never dropped nor merged."""
    assert pack(["a" * 10, "b", "c"], limit=5) == ["a" * 10, "b,c"]


def test_a_hundred_thousand_bans_stay_within_asterisks_line_buffer() -> None:
    """100,000 /128s (the longest entries) give lines under Asterisk's 8 KiB line buffer."""
    nets = [
        ipaddress.ip_network(f"2001:db8:ffff:ffff:ffff:ffff:{i >> 16:x}:{i & 0xFFFF:x}/128")
        for i in range(100_000)
    ]
    text = render_acl(nets)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= LINE_CHARS + len("deny = ")
    assert max(len(line) for line in lines) < 8190
    assert sum(line.count("/128") for line in lines) == 100_000


def test_no_bans_render_neither_the_named_acl_nor_the_pjsip_object() -> None:
    """Without bans pjsip.conf refers to no named ACL (an undefined one would deny all)."""
    assert acl_section(()) is None
    assert "[supervisor-blocked]" not in render_acl(())


def test_rules_are_sorted_and_distinct_whatever_the_input_order() -> None:
    """IPv4 before IPv6, ascending by address then prefix length, duplicates once: the same
    acl.conf for the same bans in any order (sorted input takes the fast path)."""
    bans = [
        ipaddress.ip_network(n)
        for n in ("2001:db8:bad::/64", "203.0.113.5/32", "2001:db8:bad::/48", "198.51.100.0/24")
    ]
    expected = ["198.51.100.0/24", "203.0.113.5/32", "2001:db8:bad::/48", "2001:db8:bad::/64"]
    assert [str(n) for n in ordered(bans + bans[:2])] == expected
    assert [str(n) for n in ordered(reversed(bans))] == expected
    assert render_acl(bans) == render_acl(ordered(bans))
    assert f"deny = {','.join(expected)}" in render_acl(bans)


def test_the_guards_sorted_list_renders_like_any_other() -> None:
    """A NetworkList (sorted, distinct, with its texts: what the guard hands the renderer) is
    rendered from its texts, to the same acl.conf as the same networks in any order."""
    bans = [
        ipaddress.ip_network(n)
        for n in ("203.0.113.5/32", "2001:db8:bad::/64", "198.51.100.0/24", "2001:db8:bad::/48")
    ]
    networks = sorted(bans, key=order)
    listed = NetworkList(networks, (str(n) for n in networks))
    assert render_acl(listed) == render_acl(bans)
    assert listed.texts[0] == "198.51.100.0/24"


def test_a_new_ban_list_rerenders_acl_conf_alone_to_what_render_gives() -> None:
    """with_bans() on a render of the same site gives what render() gives for the new ban
    list, every file; it declines (None) when bans appear or go (pjsip.conf changes too)."""
    loaded = load_dict(base())
    context = RenderContext(ami_secret="x")
    one = [ipaddress.ip_network("203.0.113.5/32")]
    two = [*one, ipaddress.ip_network("2001:db8:bad::/64"), ipaddress.ip_network("2001:db8::/48")]
    files = render(loaded, context, one)
    assert with_bans(loaded, files, two) == render(loaded, context, two)
    assert with_bans(loaded, render(loaded, context, two), one) == files
    assert with_bans(loaded, files, []) is None
    assert with_bans(loaded, render(loaded, context, []), one) is None
