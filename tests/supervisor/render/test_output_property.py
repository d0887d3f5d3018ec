"""Property: whatever text lands in any string field of a site (or a Secret, or a name), either
the loader refuses the site with located problems, or every rendered file reads back, by
Asterisk's own rules (supervisor.confparse, checked against the real Asterisk), as exactly what
the renderer meant: the output guard never has to step in. Budget in CI: a derandomized, fixed
number of examples (EXAMPLES below), spread over every slot."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.pki import Ca
from supervisor.render import RenderContext, render
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import load_site, load_site_dirs
from tests.supervisor.site.sites import EXAMPLES as EXAMPLE_DIR
from tests.supervisor.site.sites import config_mount, secret_mount

EXAMPLES = 400
CONTEXT = RenderContext(ami_secret="x")
HOME = EXAMPLE_DIR / "home"


def _rich_site() -> tuple[dict[str, Any], dict[str, str]]:
    """examples/home plus every optional string field the model has (a trunk's tls.ca_secret
    aside: a TLS trunk needs a TLS provider; the field is a Secret key name like the others)."""
    site = yaml.safe_load((HOME / "site" / "site.yaml").read_text())
    secrets = {p.name: p.read_text().strip() for p in (HOME / "secrets").iterdir()}
    provider = site["trunks"]["provider"]
    provider.update(
        from_user="pod1", from_domain="sip.example.net", identify=["2001:db8:5060::/64"]
    )
    site["security"] = {"allow": ["2001:db8:e8b1::/48"]}
    site["user_agent"] = "asterisk-supervisor"
    site["endpoints"]["desk"]["auth"]["username"] = "desk1"
    site["raw"] = {"extensions.conf": "[extra]\nexten => 1,1,Hangup()\n"}
    site["endpoints"]["kitchen"]["voicemail"]["number"] = "1012"
    site["transports"]["tls6"]["tls"].update(
        cert_secret="tls.crt", key_secret="tls.key", ca_secret="ca.crt"
    )
    ca = Ca()
    secrets.update(ca.issue(("pbx.example.org",)).secret_files(ca))
    return site, secrets


Slot = tuple[Any, ...]


def _slots(node: Any, path: Slot = ()) -> Iterator[Slot]:
    """Every string value ("v", path) and every mapping key ("k", path) in the data."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                yield ("k", *path, key)
            yield from _slots(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _slots(value, (*path, index))
    elif isinstance(node, str):
        yield ("v", *path)


SITE, SECRETS = _rich_site()
SLOTS = sorted([*_slots(SITE), *(("s", key) for key in SECRETS)], key=lambda s: tuple(map(str, s)))


def _current(site: dict[str, Any], secrets: dict[str, str], slot: Slot) -> str:
    kind, *path = slot
    if kind == "s":
        return secrets[path[0]]
    node: Any = site
    for part in path[:-1] if kind == "k" else path:
        node = node[part]
    return str(path[-1]) if kind == "k" else str(node)


def _put(site: dict[str, Any], secrets: dict[str, str], slot: Slot, text: str) -> None:
    kind, *path = slot
    if kind == "s":
        secrets[path[0]] = text
        return
    node: Any = site
    for part in path[:-1]:
        node = node[part]
    if kind == "v":
        node[path[-1]] = text
    else:  # rename the key, keeping its place
        items = list(node.items())
        node.clear()
        node.update({text if k == path[-1] else k: v for k, v in items})


NASTY = [
    *"\n\r\t\x00\x0b\x0c\x1b\x7f\u0085\u2028\u2029\u202e\ufeff;[]#=>,()$\"'\\ -+.*",
    ";--",
    "--;",
]
texts = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=24),
    st.lists(st.one_of(st.sampled_from(NASTY), st.sampled_from(["a", "1", "é"])), max_size=12).map(
        "".join
    ),
)


@pytest.mark.parametrize("slot", SLOTS, ids=lambda slot: ".".join(map(str, slot)))
@settings(
    max_examples=max(2, EXAMPLES // len(SLOTS)),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=texts, splice=st.one_of(st.none(), st.integers(0, 40)))
def test_any_text_in_any_field_is_refused_or_renders_as_meant(
    slot: Slot, text: str, splice: int | None
) -> None:
    """The loader refuses the text (alone, or spliced into the field's valid value), or the
    guard finds every file reading back as meant."""
    site, secrets = copy.deepcopy(SITE), dict(SECRETS)
    if splice is not None:
        valid = _current(site, secrets, slot)
        text = valid[:splice] + text + valid[splice:]
    _put(site, secrets, slot, text)
    try:
        dumped = yaml.safe_dump(site, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return  # not representable in YAML at all
    problems: list[str] = []
    try:
        loaded = load_site([config_mount(("site.yaml", dumped))], [secret_mount(secrets)])
    except SiteInvalid as exc:
        problems = [str(p) for p in exc.problems]
    if problems:
        assert all("\n" not in p for p in problems)
        return
    render(loaded, CONTEXT)  # raises SiteInvalid if anything would not read back as meant


def test_the_rich_site_is_valid_and_has_every_optional_string_field() -> None:
    """The base of the property loads and renders (so the property is not vacuous), and its
    slots include each optional string field the rich site adds and every Secret value."""
    loaded = load_site(
        [config_mount(("site.yaml", yaml.safe_dump(SITE)))], [secret_mount(dict(SECRETS))]
    )
    assert {"pjsip.conf", "extensions.conf"} <= set(render(loaded, CONTEXT))
    added = {
        ("v", "trunks", "provider", "from_user"),
        ("v", "trunks", "provider", "from_domain"),
        ("v", "trunks", "provider", "identify", 0),
        ("v", "security", "allow", 0),
        ("v", "user_agent"),
        ("v", "endpoints", "desk", "auth", "username"),
        ("k", "raw", "extensions.conf"),
        ("v", "raw", "extensions.conf"),
        ("v", "endpoints", "kitchen", "voicemail", "number"),
        ("v", "transports", "tls6", "tls", "ca_secret"),
    }
    assert added <= set(SLOTS)
    assert {slot[1] for slot in SLOTS if slot[0] == "s"} == set(SECRETS)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            lambda s: s.model_copy(update={"user_agent": "ua\n[global]\ntype = global"}),
            "user_agent: refused: pjsip.conf [global] user_agent",
        ),
        (lambda s: s.model_copy(update={"user_agent": "ua ;-- hidden"}), "user_agent: "),
        (lambda s: s.model_copy(update={"user_agent": "ua\u2028x"}), "control character"),
    ],
)
def test_guard_refuses_what_validation_would_have_missed(change: Any, where: str) -> None:
    """A value that bypassed validation and would change the file's structure is refused by
    the guard, naming the field, and no file is returned."""
    loaded = load_site_dirs([HOME / "site"], [HOME / "secrets"])
    broken = dataclasses.replace(loaded, site=change(loaded.site))
    with pytest.raises(SiteInvalid) as caught:
        render(broken, CONTEXT)
    shown = [str(p) for p in caught.value.problems]
    assert any(where in p for p in shown), shown


def test_guard_names_the_secret_field_without_the_secret() -> None:
    """A password that would break its line is refused at the auth field, never shown."""
    loaded = load_site_dirs([HOME / "site"], [HOME / "secrets"])
    broken = dataclasses.replace(
        loaded, secrets={**loaded.secrets, "desk-password": "hunter2\n[desk]\ntype=aor"}
    )
    with pytest.raises(SiteInvalid) as caught:
        render(broken, CONTEXT)
    shown = [str(p) for p in caught.value.problems]
    assert any("endpoints.desk.auth: refused: pjsip.conf [desk] password" in p for p in shown)
    assert not any("hunter2" in p for p in shown)


def test_the_property_covers_every_field_of_the_shipped_example() -> None:
    """Every string value and key of examples/home is a slot of the property's base, with the
    same value (so the property tracks the shipped example as it grows)."""
    shipped = yaml.safe_load((HOME / "site" / "site.yaml").read_text())
    missing = [slot for slot in _slots(shipped) if slot not in SLOTS]
    assert missing == []
    changed = [
        slot
        for slot in _slots(shipped)
        if slot[0] == "v" and _current(shipped, {}, slot) != _current(SITE, SECRETS, slot)
    ]
    assert changed == []
