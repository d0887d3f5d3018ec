"""Hostile input is refused with located problems: IP fields, identify width, YAML semantics,
bounds (depth, digits, sizes), symlink loops, secrets directories, message escaping."""

from __future__ import annotations

import ipaddress
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.render import RenderContext, render
from supervisor.site import checks, ipnet
from supervisor.site.errors import Problem, SiteInvalid
from supervisor.site.limits import MAX_DEPTH, MAX_INT_DIGITS, MAX_SITE_FILES
from supervisor.site.load import load_site, load_site_dirs
from supervisor.site.mounts import read_mount
from tests.supervisor.site.sites import SECRETS, base, config_mount, secret_mount
from tests.supervisor.site.test_mounts import make_kubelet_mount


def problems(site: dict[str, Any], secrets: dict[str, str] | None = None) -> list[str]:
    text = yaml.safe_dump(site, sort_keys=False, allow_unicode=True)
    return text_problems(text, secrets)


def text_problems(text: str, secrets: dict[str, str] | None = None, *more: str) -> list[str]:
    files = [("site.yaml", text), *((f"more{i}.yaml", t) for i, t in enumerate(more))]
    with pytest.raises(SiteInvalid) as caught:
        load_site([config_mount(*files)], [secret_mount(secrets)])
    return [str(p) for p in caught.value.problems]


ZONE = "fe80::1%eth0\n[evil]\n#include /etc/passwd;\x00\x1b"
IP_FIELDS: list[tuple[str, tuple[Any, ...]]] = [
    ("addresses.ipv6", ("addresses", "ipv6")),
    ("trunks.provider.hosts[0]", ("trunks", "provider", "hosts", 0)),
    ("trunks.provider.from_domain", ("trunks", "provider", "from_domain")),
    ("trunks.provider.identify[0]", ("trunks", "provider", "identify", 0)),
    ("endpoints.doorbell.identify[0]", ("endpoints", "doorbell", "identify", 0)),
]


def put(site: dict[str, Any], path: tuple[Any, ...], value: str) -> None:
    node = site
    for key in path[:-1]:
        if isinstance(key, str) and key not in node:
            node[key] = [None] if isinstance(path[path.index(key) + 1], int) else {}
        node = node[key]
    node[path[-1]] = value


@pytest.mark.parametrize(("key", "path"), IP_FIELDS, ids=[k for k, _ in IP_FIELDS])
def test_zone_ids_are_refused_in_every_ip_field(key: str, path: tuple[Any, ...]) -> None:
    """An IPv6 zone suffix (with anything after it) is refused, located, in every IP field."""
    site = base()
    put(site, path, ZONE)
    found = problems(site)
    assert any(f": {key}: " in p and "zone IDs" in p for p in found), found
    assert all("\n" not in p for p in found)


UNUSABLE = [
    ("::", "unspecified"),
    ("0.0.0.0", "unspecified"),
    ("::1", "loopback"),
    ("127.0.0.2", "loopback"),
    ("ff02::1", "multicast"),
    ("224.0.0.1", "multicast"),
    ("fe80::1", "link-local"),
    ("169.254.1.1", "link-local"),
    ("::ffff:203.0.113.1", "IPv4-mapped"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
]


@pytest.mark.parametrize(("address", "why"), UNUSABLE)
def test_addresses_no_peer_can_hold_are_refused_with_the_reason(address: str, why: str) -> None:
    """Unspecified, loopback, multicast, link-local, mapped... are refused as hosts, saying why."""
    site = base()
    site["trunks"]["provider"]["hosts"] = [address]
    site["trunks"]["provider"]["identify"] = ["2001:db8:5060::10"]
    found = problems(site)
    assert any("trunks.provider.hosts[0]: " in p and why in p for p in found), found


def test_pod_address_must_be_usable() -> None:
    """The pod's own address cannot be loopback or link-local."""
    site = base()
    site["addresses"] = {"ipv6": "::1", "ipv4": "169.254.0.5"}
    found = problems(site)
    assert any("addresses.ipv6: " in p and "loopback" in p for p in found), found
    assert any("addresses.ipv4: " in p and "link-local" in p for p in found), found


def test_ip_fields_are_written_in_canonical_form() -> None:
    """IP literals are re-emitted canonically, never as the user spelled them."""
    site = base()
    site["addresses"]["ipv6"] = "2001:DB8:E8B1:0:0:0:1:1"
    site["trunks"]["provider"]["hosts"] = ["2001:0db8:5060:0000::0010"]
    site["endpoints"]["doorbell"]["identify"] = ["198.51.100.0/28"]
    files = render(
        load_site([config_mount(("site.yaml", yaml.safe_dump(site)))], [secret_mount()]),
        RenderContext(ami_secret="x"),
    )
    pjsip = files["pjsip.conf"]
    assert "bind = [2001:db8:e8b1::1:1]:5060" in pjsip
    assert "contact = sip:[2001:db8:5060::10]:5060" in pjsip
    assert "match = 198.51.100.0/28" in pjsip
    assert "DB8" not in pjsip
    assert "0db8" not in pjsip


@pytest.mark.parametrize("network", ["0.0.0.0/0", "::/0", "203.0.0.0/8", "2001::/16"])
def test_identify_wider_than_any_peer_is_refused(network: str) -> None:
    """The whole internet (or a network wider than /16, /32) never identifies anyone."""
    site = base()
    site["trunks"]["provider"]["identify"] = [network]
    found = problems(site)
    assert any("trunks.provider.identify[0]: " in p and "wider than" in p for p in found), found


def test_wide_identify_in_a_dial_out_context_is_refused() -> None:
    """An identify wider than /24 (/48) reaching a context that calls out is refused; the
    same network in a context that cannot call out is accepted."""
    site = base()
    site["endpoints"]["doorbell"] = {"identify": ["198.51.100.0/23"], "family": "ipv4"}
    found = problems(site)
    assert any(
        "endpoints.doorbell.identify[0]: " in p and "can call out through a trunk" in p
        for p in found
    ), found
    site["endpoints"]["doorbell"]["context"] = "local"
    load_site([config_mount(("site.yaml", yaml.safe_dump(site)))], [secret_mount()])
    site["endpoints"]["doorbell"] = {"identify": ["2001:db8::/47"], "context": "internal"}
    assert any("wider than /48" in p for p in problems(site))


def _pairwise(claims: list[tuple[str, str]]) -> set[int]:
    """The entries the quadratic definition reports: overlapping an earlier, other owner's."""
    out = set()
    for i, (net, owner) in enumerate(claims):
        a = ipaddress.ip_network(net)
        for other, who in claims[:i]:
            b = ipaddress.ip_network(other)
            if who != owner and a.version == b.version and a.overlaps(b):
                out.add(i)
    return out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32))
def test_sorted_overlap_check_matches_the_pairwise_definition(seed: int) -> None:
    """The n log n overlap check reports exactly the entries the pairwise check would."""
    rng = random.Random(seed)
    claims = []
    for _ in range(rng.randint(1, 25)):
        prefix = rng.randint(28, 32)
        address = (203 << 24) | (rng.randrange(0, 64) << 2)
        net = ipaddress.ip_network(f"{ipaddress.ip_address(address)}/{prefix}", strict=False)
        claims.append((str(net), f"endpoint e{rng.randint(0, 3)}"))
    found = checks._overlaps(
        [
            checks._Claim(ipnet.parse_network(n), i, o, ("x", i), n)
            for i, (n, o) in enumerate(claims)
        ]
    )
    assert {path[1] for path, _ in found} == _pairwise(claims)


AMBIGUOUS = ["011704", "0x13C4", "0o11704", "5_060", "1:24:20", "5.06e3", ".inf", "yes", "on"]


@pytest.mark.parametrize("form", AMBIGUOUS)
def test_ambiguous_number_forms_are_refused(form: str) -> None:
    """A plain value YAML 1.1 and 1.2 read differently is refused at its line, never guessed."""
    text = f"addresses:\n  ipv6: 2001:db8::1\ntransports:\n  t: {{family: ipv6, port: {form}}}\n"
    found = text_problems(text)
    assert any(
        p.startswith("site.yaml:4: transports.t.port: ") and "ambiguous" in p for p in found
    ), found


def test_plain_decimal_numbers_are_numbers() -> None:
    """`port: 5060` is the integer 5060 (the accepted, unambiguous form)."""
    text = "addresses:\n  ipv6: 2001:db8::1\ntransports:\n  t: {family: ipv6, port: 5061}\n"
    site = load_site([config_mount(("site.yaml", text))], None).site
    assert site.transports["t"].port == 5061


TAGS = [
    "trunks: !!python/object:os.system {}",
    "trunks: !!set {a}",
    "trunks: !foo {}",
    "user_agent: !!str x",
    "dialplan:\n  outbound: !!seq []",
    "!!str trunks: {}",
]


@pytest.mark.parametrize("line", TAGS)
def test_tags_on_any_node_are_refused(line: str) -> None:
    """A tag on a mapping, list, value or key is refused at its line."""
    found = text_problems(f"addresses:\n  ipv6: 2001:db8::1\n{line}\n")
    at = 3 + line.count("\n")
    assert any(p.startswith(f"site.yaml:{at}") and "tags (" in p for p in found), found


def test_alias_as_a_mapping_key_is_refused() -> None:
    """An alias used as a key is refused like any other alias."""
    text = "addresses:\n  ipv6: &a 2001:db8::1\ntrunks:\n  *a : {hosts: [x.example]}\n"
    found = text_problems(text)
    assert "site.yaml:4: trunks: anchors and aliases (*name) are not supported" in found


def test_key_names_cannot_forge_an_error_line() -> None:
    """A key holding a newline and control characters is printed escaped, on one line."""
    found = text_problems('addresses:\n  ipv6: 2001:db8::1\n"x\\nsite.yaml:1: ok\\e": 1\n')
    assert found == ["site.yaml:3: x\\nsite.yaml:1: ok\\x1b: unknown key"] or all(
        "\n" not in p and "\x1b" not in p for p in found
    )
    assert len(found) == 1
    assert "\\n" in found[0]


def test_a_parse_problem_does_not_hide_field_problems_of_other_files() -> None:
    """A syntax error in one file and a field error in another are reported together."""
    found = text_problems(
        "addresses:\n  ipv6: 2001:db8::1\n",
        None,
        "trunks: [unclosed\n",
        "endpoints:\n  desk: {auth: {password_secret: k}, max_contacts: 99}\n",
    )
    assert any(p.startswith("more0.yaml:") and "YAML syntax" in p for p in found), found
    assert any(
        p.startswith("more1.yaml:2: endpoints.desk.max_contacts: must be at most 10") for p in found
    ), found
    assert not any("required" in p for p in found), found


def test_deep_nesting_is_a_located_problem() -> None:
    """Nesting past the limit is one located problem, never a RecursionError."""
    found = text_problems("a: " + "[" * 200 + "]" * 200 + "\n")
    assert any(
        p.startswith("site.yaml:1: a") and f"nested deeper than {MAX_DEPTH} levels" in p
        for p in found
    ), found
    # Far deeper, libyaml itself stops first; still one located problem.
    found = text_problems("a: " + "{a: " * 100_000 + "}" * 100_000 + "\n")
    assert len(found) == 1, found
    assert found[0].startswith("site.yaml:1: "), found


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 5000, "-" + "1" * 4301])
def test_huge_integers_are_located_problems(number: str) -> None:
    """Integers past the digit limit (decimal or hex) are refused at their key."""
    found = text_problems(
        f"addresses:\n  ipv6: 2001:db8::1\ntransports:\n  t: {{port: {number}}}\n"
    )
    assert any(p.startswith("site.yaml:4: transports.t.port: ") for p in found), found
    if number.startswith("9"):
        assert any(f"more than {MAX_INT_DIGITS} digits" in p for p in found)


def test_too_many_site_files_are_refused_by_name() -> None:
    """Site files past the limit are named as not read, with the limit."""
    files = [(f"f{i:02d}.yaml", f"k{i}: 1\n") for i in range(MAX_SITE_FILES + 2)]
    with pytest.raises(SiteInvalid) as caught:
        load_site([config_mount(*files)], None)
    shown = [str(p) for p in caught.value.problems]
    assert f"f{MAX_SITE_FILES:02d}.yaml: not read: more than {MAX_SITE_FILES} site files" in shown


@pytest.mark.parametrize("layout", ["x -> x", "..data -> ..data", "..data -> ."])
@pytest.mark.parametrize("which", ["config", "secrets"])
def test_symlink_loops_are_located_problems(tmp_path: Path, layout: str, which: str) -> None:
    """Symlink loops in a mount are reported by name, never as a traceback."""
    good = tmp_path / "good"
    good.mkdir()
    (good / "site.yaml").write_text(
        "addresses: {ipv6: 2001:db8::1}\nendpoints:\n  d: {auth: {password_secret: x}}\n"
    )
    loop = tmp_path / "loop"
    loop.mkdir()
    if layout == "x -> x":
        os.symlink("x", loop / "x")
    elif layout == "..data -> ..data":
        os.symlink("..data", loop / "..data")
        os.symlink("..data/x", loop / "x")
    else:
        os.symlink(".", loop / "..data")
        os.symlink("..data/x", loop / "x")
    config, secrets = ([loop, good], [good]) if which == "config" else ([good], [loop])
    with pytest.raises(SiteInvalid) as caught:
        load_site_dirs(config, secrets)
    shown = [str(p) for p in caught.value.problems]
    assert any("symlink loop" in p for p in shown), shown
    if which == "config":
        assert any(p.startswith(str(loop)) for p in shown), shown


def test_missing_secrets_directory_has_its_own_message(tmp_path: Path) -> None:
    """A missing secrets directory is named as such, not as a missing key."""
    config = tmp_path / "c"
    config.mkdir()
    (config / "site.yaml").write_text(
        "addresses: {ipv6: 2001:db8::1}\nendpoints:\n  d: {auth: {password_secret: pw}}\n"
    )
    with pytest.raises(SiteInvalid) as caught:
        load_site_dirs([config], [tmp_path / "nope"])
    shown = [str(p) for p in caught.value.problems]
    assert any(
        "site.yaml:3: endpoints.d.auth.password_secret: secret key 'pw' cannot be checked: "
        "the secrets directory"
        in p
        and "No such file" in p
        for p in shown
    ), shown


def test_directory_where_a_secret_key_should_be(tmp_path: Path) -> None:
    """A directory in place of a key file is reported as a directory."""
    secrets = make_kubelet_mount(tmp_path / "s", {"other": b"x"})
    (secrets / "..data" / "pw").mkdir()
    config = tmp_path / "c"
    config.mkdir()
    (config / "site.yaml").write_text(
        "addresses: {ipv6: 2001:db8::1}\nendpoints:\n  d: {auth: {password_secret: pw}}\n"
    )
    with pytest.raises(SiteInvalid) as caught:
        load_site_dirs([config], [secrets])
    assert any("secret key 'pw' is a directory" in str(p) for p in caught.value.problems)


def test_unreadable_mount_is_reported_as_unreadable(tmp_path: Path) -> None:
    """A secrets path that is a file, not a directory, is reported as not a directory."""
    (tmp_path / "f").write_text("x")
    mount = read_mount(tmp_path / "f")
    assert mount.unreadable == "is not a directory"


def test_problem_text_is_one_line_whatever_it_holds() -> None:
    """Every part of a problem is escaped in text form (line breaks, ESC, U+2028)."""
    text = str(Problem("a\nb", 3, "k\u2028ey", "m\x1b[31m"))
    assert text == "a\\nb:3: k\\u2028ey: m\\x1b[31m"


def test_secret_values_are_not_echoed() -> None:
    """A Secret with a newline is refused without printing its value."""
    secrets = dict(SECRETS, **{"desk-password": "hunter2\nx"})
    found = problems(base(), secrets)
    assert found
    assert not any("hunter2" in p for p in found)


RAW_REFUSED = [
    ("[extra]\nx = 1\r[internal]\ny = 2\n", "U+000D"),
    ("[extra]\nexten => 1,1,NoOp() ;-- hidden\n[internal]\n--;\n", "block comments"),
    ("[extra]\nx = 1\x0b\n", "U+000B"),
    ("[extra]\nx = 1\x0c\n", "U+000C"),
    ("[extra]\nx = a\u0085b\n", "U+0085"),
    ("[extra]\nx = a\u2028[internal]\n", "U+2028"),
    ("[extra]\n  #include /etc/passwd\n", "#include"),
    ("[extra]\n#tryinclude x.conf\n", "#include"),
    ("x = 1\n[extra]\n", "must start with a [section]"),
    ("[extra](internal)\nx = 1\n", "[internal]"),
    ("[internal](+)\nx = 1\n", "[internal]"),
]


@pytest.mark.parametrize(("snippet", "why"), RAW_REFUSED)
def test_raw_snippets_are_judged_as_asterisk_reads_them(snippet: str, why: str) -> None:
    """CR-separated headers, mid-line ;--, controls and separators, directives are refused."""
    # JSON escapes are YAML double-quoted escapes: the characters arrive as themselves.
    text = "addresses:\n  ipv6: 2001:db8::1\nraw:\n  extensions.conf: " + json.dumps(snippet)
    found = text_problems(text + "\n")
    assert any("raw.extensions.conf: " in p and why in p for p in found), found


def test_raw_snippet_with_tabs_is_accepted() -> None:
    """A tab is white space to Asterisk: allowed in raw snippets."""
    site = base()
    site["raw"] = {"extensions.conf": "[extra]\n\texten\t=>\t1,1,Hangup()\t; note\n"}
    loaded = load_site([config_mount(("site.yaml", yaml.safe_dump(site)))], [secret_mount()])
    assert (
        "\texten\t=>\t1,1,Hangup()"
        in render(loaded, RenderContext(ami_secret="x"))["extensions.conf"]
    )


def test_reload_builder_reports_guard_refusals_located() -> None:
    """On reload, a site the output guard refuses is rejected with file:line: key lines."""
    import dataclasses

    from supervisor.reload.build import ConfigRejected, SiteConfigBuilder

    builder = SiteConfigBuilder(RenderContext(ami_secret="x"))
    good = builder.build(
        [config_mount(("site.yaml", yaml.safe_dump(base())))], [secret_mount()], "digest"
    )
    broken = dataclasses.replace(
        good.loaded, secrets={**good.loaded.secrets, "desk-password": "pw\n[desk]\ntype=aor"}
    )
    with pytest.raises(ConfigRejected) as caught:
        builder.rerender(dataclasses.replace(good, loaded=broken))
    assert any(
        p.startswith("site.yaml:") and "endpoints.desk.auth: refused" in p
        for p in caught.value.problems
    ), caught.value.problems
    assert not any("\n" in p for p in caught.value.problems)


def test_directory_with_too_many_entries_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mount past the entry limit is refused as a whole, without listing it all."""
    from supervisor.site import mounts

    monkeypatch.setattr(mounts, "MAX_ENTRIES_PER_DIR", 5)
    for i in range(7):
        (tmp_path / f"k{i}").write_text("x")
    mount = read_mount(tmp_path)
    assert mount.unreadable == "holds more than 5 entries"
    assert mount.files == {}


def test_directory_past_the_byte_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mount whose files hold more than the byte limit is refused as a whole."""
    from supervisor.site import mounts

    monkeypatch.setattr(mounts, "MAX_DIR_BYTES", 2 * 1024 * 1024)
    for i in range(3):
        (tmp_path / f"k{i}").write_bytes(b"x" * 1024 * 1024)
    assert read_mount(tmp_path).unreadable == "holds more than 2 MiB"


def test_site_files_past_the_byte_limit_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Site files past the total byte limit are refused by name, with the limit."""
    from supervisor.site import load

    monkeypatch.setattr(load, "MAX_SITE_BYTES", 1024 * 1024)
    files = [(f"f{i}.yaml", f"k{i}: " + "x" * 600_000 + "\n") for i in range(2)]
    with pytest.raises(SiteInvalid) as caught:
        load_site([config_mount(*files)], None)
    shown = [str(p) for p in caught.value.problems]
    assert "f1.yaml: not read: the site files hold more than 1 MiB together" in shown


def test_long_symlink_chain_is_refused_like_a_loop(tmp_path: Path) -> None:
    """A chain of 50 links (no loop) stops at the kernel's 40 hops: a located problem."""
    (tmp_path / "target").write_text("x")
    previous = "target"
    for i in range(50):
        os.symlink(previous, tmp_path / f"l{i}")
        previous = f"l{i}"
    problems = {p.file: p.message for p in read_mount(tmp_path).problems}
    assert "symlink loop (or a chain of more than 40 links)" in problems[str(tmp_path / "l49")]


def test_many_problems_are_capped_with_a_count() -> None:
    """Past 1,000 problems the rest are counted in a last line, not listed."""
    from supervisor.site.limits import MAX_PROBLEMS

    endpoints = "".join(f"  e{i}: {{identify: [nope]}}\n" for i in range(MAX_PROBLEMS + 50))
    found = text_problems("addresses:\n  ipv6: 2001:db8::1\nendpoints:\n" + endpoints)
    assert len(found) == MAX_PROBLEMS + 1
    assert "more problems not listed" in found[-1]
