"""The loader: valid sites load resolved; every class of problem is reported with file:line:key."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from lab.pki import Ca
from supervisor.site import yamlsource
from supervisor.site.errors import Problem, SiteInvalid
from supervisor.site.load import load_site, load_site_dirs
from supervisor.site.mounts import Mount, read_mount
from tests.supervisor.site.sites import (
    EXAMPLES,
    base,
    config_mount,
    load_dict,
    load_text,
    secret_mount,
)

MINIMAL = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
"""


def problems_of(text: str, secrets: dict[str, str] | None = None) -> list[str]:
    """Problems of a site text; an indented body after MINIMAL is dedented."""
    if text.startswith(MINIMAL):
        text = MINIMAL + textwrap.dedent(text.removeprefix(MINIMAL))
    with pytest.raises(SiteInvalid) as caught:
        load_text(textwrap.dedent(text), secrets)
    return [str(p) for p in caught.value.problems]


def test_example_home_loads_resolved() -> None:
    """examples/home loads; defaults that depend on other parts are filled in."""
    loaded = load_site_dirs([EXAMPLES / "home" / "site"], [EXAMPLES / "home" / "secrets"])
    site = loaded.site
    assert site.addresses.ipv6 == "2001:db8:e8b1::1:1"
    assert site.addresses.ipv4 == "203.0.113.10"
    assert set(site.endpoints) == {"desk", "kitchen", "doorbell"}
    provider = site.trunks["provider"]
    assert (provider.family, provider.transport) == ("ipv6", "udp6")
    assert provider.identify == ("2001:db8:5060::10",)
    assert site.endpoints["doorbell"].transport == "udp4"
    # Only referenced secrets are kept; one trailing newline of a Secret file is dropped
    # (PEM texts are kept whole).
    pem = {"tls.crt", "tls.key", "ca.crt"}
    assert {k: v for k, v in loaded.secrets.items() if k not in pem} == {
        "provider-password": "provider-secret",
        "desk-password": "desk-secret",
        "kitchen-password": "kitchen;secret",
        "desk-voicemail-pin": "1357",
        "kitchen-voicemail-pin": "2468",
    }
    assert set(loaded.secrets) >= pem
    assert set(loaded.certificates) == {"tls6"}
    assert site.mailboxes() == {"desk": "11", "kitchen": "12"}
    assert len(loaded.hash) == 64


def test_default_transports_one_udp_per_address() -> None:
    """Without transports, each given address family gets a UDP transport on 5060."""
    site = load_text(MINIMAL + "  ipv4: 203.0.113.10\n").site
    assert {n: (t.family, t.protocol, t.port) for n, t in site.transports.items()} == {
        "udp6": ("ipv6", "udp", 5060),
        "udp4": ("ipv4", "udp", 5060),
    }


def test_yaml_syntax_error_has_its_line() -> None:
    """A YAML syntax error is one problem at the line where parsing failed."""
    (problem,) = problems_of("addresses:\n  ipv6: [2001:db8::1\nfoo: 1\n")
    # The wording is libyaml's (or PyYAML's where libyaml is missing).
    assert problem.startswith("site.yaml:3: YAML syntax: while parsing a flow sequence")


def test_unknown_key_suggests_the_close_one() -> None:
    """An unknown key names its path and suggests the known key it resembles."""
    assert problems_of(
        MINIMAL
        + """\
        trunks:
          provider:
            hosts: [2001:db8:5060::10]
            auth: {username: pod1, password_secret: provider-password}
            registration:
              expiry: 300
              retyr: 5
        """
    ) == ["site.yaml:9: trunks.provider.registration.retyr: unknown key; did you mean 'retry'?"]


def test_range_message_matches_the_documented_form() -> None:
    """A value out of range reads `file:line: key.path: must be at least N`."""
    problems = problems_of(
        MINIMAL
        + """\
        trunks:
          provider:
            hosts: [2001:db8:5060::10]
            auth: {username: pod1, password_secret: provider-password}
            registration:
              expiry: 30
        """
    )
    assert problems == ["site.yaml:8: trunks.provider.registration.expiry: must be at least 60"]


def test_wrong_types_and_unquoted_numbers() -> None:
    """Wrong types are reported; a number YAML read from an unquoted DID asks to quote it."""
    problems = problems_of(
        MINIMAL
        + """\
        transports:
          udp6: {family: ipv6, port: "5060"}
        trunks:
          provider:
            hosts: 2001:db8:5060::10
            dids: [+4930123456]
        endpoints: []
        """
    )
    assert problems == [
        "site.yaml:4: transports.udp6.port: must be a whole number, not '5060'",
        "site.yaml:7: trunks.provider.hosts: must be a list, not '2001:db8:5060::10'",
        "site.yaml:8: trunks.provider.dids[0]: must be a string: quote it "
        "(YAML reads 4930123456 as a number)",
        "site.yaml:9: endpoints: must be a mapping (key: value), not []",
    ]


def test_all_field_problems_at_once() -> None:
    """Every field problem in the file is reported in one go, in line order."""
    problems = problems_of(
        """\
        addresses: {ipv6: 203.0.113.10}
        endpoints:
          desk: {auth: {password_secret: x}, max_contacts: 0, qualify: -1}
          "bad name": {identify: [10.0.0.1/8]}
        """
    )
    assert problems == [
        "site.yaml:1: addresses.ipv6: 203.0.113.10 is an IPv4 address, expected IPv6",
        "site.yaml:3: endpoints.desk.max_contacts: must be at least 1",
        "site.yaml:3: endpoints.desk.qualify: must be at least 0",
        "site.yaml:4: endpoints.bad name: 'bad name' is not a name (letters, digits, '_', '.',"
        " '-'; at most 40)",
        "site.yaml:4: endpoints.bad name.identify[0]: '10.0.0.1/8' is not an IP address or "
        "network (10.0.0.1/8 has host bits set)",
    ]


def test_broken_references_with_suggestions() -> None:
    """Routes to unknown trunks, endpoints, groups and contexts are reported with a suggestion."""
    site = base()
    site["dialplan"]["outbound"][0]["trunk"] = "provder"
    site["dialplan"]["extensions"]["12"] = "dsk"
    site["dialplan"]["inbound"]["+4930999"] = "al"
    site["endpoints"]["desk"]["context"] = "interal"
    with pytest.raises(SiteInvalid) as caught:
        load_dict(site)
    assert [str(p) for p in caught.value.problems] == [
        "site.yaml:22: endpoints.desk.context: unknown context 'interal'; did you mean 'internal'?",
        "site.yaml:31: dialplan.extensions.12: unknown endpoint, ring group or flow 'dsk'; did you "
        "mean 'desk'?",
        "site.yaml:39: dialplan.inbound.+4930999: no trunk lists +4930999 in its dids",
        "site.yaml:39: dialplan.inbound.+4930999: unknown endpoint, ring group or flow 'al'; "
        "did you mean 'all'?",
        "site.yaml:42: dialplan.outbound[0].trunk: unknown trunk 'provder'; did you mean "
        "'provider'?",
    ]


def test_missing_secret_key_points_at_the_reference() -> None:
    """A referenced Secret key that is absent is reported at the password_secret line."""
    problems = problems_of(
        MINIMAL
        + """\
        endpoints:
          desk:
            auth: {password_secret: desk-pass}
        """,
        secrets={"desk-password": "x"},
    )
    assert problems == [
        "site.yaml:5: endpoints.desk.auth.password_secret: secret key 'desk-pass' is not in "
        "the secrets (/secrets)"
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("two\nlines", "contains a line break or another control character"),
        (" padded", "starts or ends with white space (Asterisk would trim it)"),
        ("", "is empty"),
        ("x" * 129, "is longer than 128 characters"),
    ],
)
def test_unusable_secret_value_is_reported_without_the_value(value: str, reason: str) -> None:
    """A Secret value that cannot be a pjsip.conf password is named by key, never printed."""
    problems = problems_of(
        MINIMAL + "endpoints:\n  desk:\n    auth: {password_secret: p}\n", secrets={"p": value}
    )
    assert problems == [
        f"site.yaml:5: endpoints.desk.auth.password_secret: secret key 'p' {reason}"
    ]
    if value.strip():
        assert value.strip() not in problems[0]


def test_binary_secret_is_reported_only_when_referenced(tmp_path: Path) -> None:
    """A binary file in the Secret mount fails the site only if the site references it."""
    (tmp_path / "tls.key").write_bytes(b"\0\1")
    (tmp_path / "p").write_bytes(b"\xff")
    config = config_mount(
        ("site.yaml", MINIMAL + "endpoints:\n  d:\n    auth: {password_secret: p}\n")
    )
    with pytest.raises(SiteInvalid) as caught:
        load_site([config], [read_mount(tmp_path)])
    assert [p.key for p in caught.value.problems] == ["endpoints.d.auth.password_secret"]
    assert "UTF-8" in caught.value.problems[0].message


def test_duplicate_names() -> None:
    """Duplicate YAML keys, a name shared by an endpoint and a trunk, and files that both define
    the same endpoint are reported."""
    problems = problems_of(
        MINIMAL
        + """\
        endpoints:
          desk: {auth: {password_secret: p}}
          desk: {auth: {password_secret: p}}
          provider: {auth: {password_secret: p}}
        trunks:
          provider: {hosts: [2001:db8:5060::10]}
        """,
        secrets={"p": "x"},
    )
    assert problems == [
        "site.yaml:5: endpoints.desk: duplicate key (first given at line 4)",
    ]
    problems = problems_of(
        MINIMAL
        + """\
        endpoints:
          provider: {auth: {password_secret: p}}
        trunks:
          provider: {hosts: [2001:db8:5060::10]}
        """,
        secrets={"p": "x"},
    )
    assert problems == [
        "site.yaml:4: endpoints.provider: the name 'provider' is also a trunk's name"
    ]
    one = ("a.yaml", MINIMAL + "endpoints:\n  desk: {auth: {password_secret: p}}\n")
    two = ("b.yaml", "endpoints:\n  desk: {auth: {password_secret: p}}\naddresses: {}\n")
    with pytest.raises(SiteInvalid) as caught:
        load_site([config_mount(one, two)], [secret_mount({"p": "x"})])
    assert [str(p) for p in caught.value.problems] == [
        "b.yaml:2: endpoints.desk: duplicate name (also at a.yaml:4)",
        "b.yaml:3: addresses: given in two files (also at a.yaml:1)",
    ]


def test_site_split_across_files_and_mounts() -> None:
    """Endpoints and trunks from several files and mounts merge into one site."""
    one = config_mount(("site.yaml", MINIMAL), path="/a")
    two = config_mount(
        ("phones.yaml", "endpoints:\n  desk: {auth: {password_secret: p}}\n"),
        ("more.yml", "endpoints:\n  hall: {auth: {password_secret: p}}\n"),
        ("README", "not a site file"),
        path="/b",
    )
    loaded = load_site([one, two], [secret_mount({"p": "x"})])
    assert set(loaded.site.endpoints) == {"desk", "hall"}


def test_wrong_family_addresses() -> None:
    """An address of the wrong family for its trunk, transport or endpoint is reported."""
    problems = problems_of(
        """\
        addresses: {ipv4: 203.0.113.10}
        transports:
          udp6: {family: ipv6}
          udp4: {family: ipv4}
        trunks:
          provider:
            hosts: [2001:db8:5060::10, 198.51.100.7]
            family: ipv4
        endpoints:
          doorbell: {identify: [2001:db8::20], family: ipv4}
        """
    )
    assert problems == [
        "site.yaml:3: transports.udp6.family: no ipv6 address is given in addresses",
        "site.yaml:7: trunks.provider.hosts[0]: 2001:db8:5060::10 is ipv6, but this is ipv4 only",
        "site.yaml:10: endpoints.doorbell.identify[0]: 2001:db8::20 is ipv6, but this is ipv4 only",
    ]


def test_limits() -> None:
    """Size and count limits: list lengths, oversized site files."""
    problems = problems_of(
        MINIMAL
        + "trunks:\n  p:\n    hosts: ["
        + ", ".join(f"2001:db8::{i}" for i in range(1, 10))
        + "]\n"
    )
    assert problems == ["site.yaml:5: trunks.p.hosts: must have at most 8 items"]
    big = Mount(
        path=Path("/c"),
        problems=(Problem("/c/site.yaml", None, "", "is larger than the limit of 1048576 bytes"),),
    )
    with pytest.raises(SiteInvalid) as caught:
        load_site([big], [])
    assert [str(p) for p in caught.value.problems] == [
        "/c: no site file (*.yaml) found",
        "/c/site.yaml: is larger than the limit of 1048576 bytes",
    ]


def test_dialplan_consistency() -> None:
    """Fallback loops, calling a device that never registers, and doorbell without a route."""
    site = base()
    site["dialplan"]["ring_groups"] = {
        "a": {"endpoints": ["desk"], "fallback": "b"},
        "b": {"endpoints": ["doorbell"], "fallback": "a"},
    }
    site["dialplan"]["inbound"] = {"+4930123456": "a"}
    del site["dialplan"]["doorbell"]
    site["dialplan"]["outbound"].append(dict(site["dialplan"]["outbound"][0]))
    with pytest.raises(SiteInvalid) as caught:
        load_dict(site)
    assert [str(p) for p in caught.value.problems] == [
        "site.yaml:26: endpoints.doorbell.context: context doorbell needs dialplan.doorbell",
        "site.yaml:34: dialplan.ring_groups.a.fallback: loops: a -> b -> a",
        "site.yaml:37: dialplan.ring_groups.b.endpoints[0]: endpoint doorbell cannot be called: "
        "it does not register (no auth)",
        "site.yaml:38: dialplan.ring_groups.b.fallback: loops: b -> a -> b",
        "site.yaml:46: dialplan.outbound[1].pattern: same pattern as outbound[0]",
    ]


def test_raw_snippets_are_checked_with_their_lines() -> None:
    """Raw snippets: includes, option-before-section and reused section names are rejected."""
    problems = problems_of(
        MINIMAL
        + """\
        raw:
          pjsip.conf: |
            allow = all
            [extra]
            type = aor
            #include /etc/passwd
          extensions.conf: |
            [internal]
            exten => 1,1,Hangup()
        manager: {}
        """
    )
    assert problems == [
        "site.yaml:5: raw.pjsip.conf: a raw snippet must start with a [section] header",
        "site.yaml:8: raw.pjsip.conf: #include, #tryinclude and #exec are not allowed",
        "site.yaml:9: raw.extensions.conf: section [internal] is generated from the model",
        "site.yaml:12: manager: unknown key (known: addresses, transports, trunks, endpoints, "
        "dialplan, voicemail, user_agent, security, records, raw, nat, rtp, music_on_hold, "
        "modules)",
    ]


def test_aliases_are_refused() -> None:
    """YAML anchors and aliases are refused where they are written."""
    assert problems_of(MINIMAL + "a: &x [1]\nb: *x\n") == [
        "site.yaml:3: a: anchors and aliases (&name) are not supported",
        "site.yaml:4: b: anchors and aliases (*name) are not supported",
    ]


def test_alias_bomb_is_refused_without_expanding_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A billion-laughs document is refused after reading its own YAML events only (about a
    hundred), never the 10^10 nodes its aliases would expand to."""
    events = 0

    class Counting(yamlsource.Loader):  # type: ignore[misc]  # PyYAML: untyped
        def get_event(self) -> Any:
            nonlocal events
            events += 1
            return super().get_event()

    monkeypatch.setattr(yamlsource, "Loader", Counting)
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
    problems = problems_of("\n".join(lines) + "\n")
    assert "site.yaml:2: l1: anchors and aliases (&name) are not supported" in problems
    # The document's own events, at most: stream, document and mapping start and end (5), and
    # per line a key, a sequence start, 10 items and a sequence end (13).
    assert 0 < events <= 5 + 10 * 13


def test_no_site_file() -> None:
    """A config directory without *.yaml files is a problem, not an empty site."""
    with pytest.raises(SiteInvalid) as caught:
        load_site([config_mount(("notes.txt", "x"))], [])
    assert [str(p) for p in caught.value.problems] == ["/config: no site file (*.yaml) found"]


def test_without_secrets_placeholders_are_used() -> None:
    """With secrets=None (checking a ConfigMap alone) references get placeholders."""
    loaded = load_site(
        [config_mount(("site.yaml", MINIMAL + "endpoints:\n  d: {auth: {password_secret: k}}\n"))],
        None,
    )
    assert dict(loaded.secrets) == {"k": "(secret k)"}


def test_the_documented_format_is_a_valid_site() -> None:
    """The YAML block in examples/README.md validates, so the reference cannot drift."""
    text = (EXAMPLES / "README.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    ca = Ca()
    secrets = {"provider-password": "x", "desk-password": "y", "desk-pin": "2468"}
    secrets |= ca.issue().secret_files(ca)
    site = load_text(block, secrets).site
    assert set(site.endpoints) == {"desk", "doorbell"}
    assert site.endpoints["desk"].transport == "tls6"
    assert site.mailboxes() == {"desk": "11"}
    assert site.trunks["provider"].identify == ("2001:db8:5060::/64",)


def test_reference_and_secret_problems_come_with_field_problems() -> None:
    """Field problems do not hide reference or Secret problems elsewhere; nothing false is said
    about the entries that failed."""
    problems = problems_of(
        MINIMAL
        + """        endpoints:
          desk: {auth: {password_secret: desk-password}, qualify: -5}
          hall: {auth: {password_secret: hall-password}}
        dialplan:
          extensions: {"11": desk, "12": hal}
          ring_groups: {all: {endpoints: [desk, hall]}}
        """,
        secrets={"desk-password": "x"},
    )
    assert problems == [
        "site.yaml:4: endpoints.desk.qualify: must be at least 0",
        "site.yaml:5: endpoints.hall.auth.password_secret: secret key 'hall-password' is not in "
        "the secrets (/secrets)",
        "site.yaml:7: dialplan.extensions.12: unknown endpoint, ring group or flow 'hal'; did you "
        "mean 'hall'?",
    ]
