"""`options:` pass-through: checked against Asterisk's documentation per object type, typed and
unsafe options refused with the reason, the rest rendered into the object they belong to."""

from __future__ import annotations

import textwrap

import pytest

from supervisor import confparse
from supervisor.asterisk_facts import facts
from supervisor.render import RenderContext, render
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import load_site_dirs
from supervisor.site.options import OBJECTS, TYPED, UNSAFE, UNSAFE_ON_PHONE
from tests.supervisor.site.sites import EXAMPLES, load_text

CONTEXT = RenderContext(ami_secret="test-secret-0123")
SECRETS = {"provider-password": "p-secret", "desk-password": "d-secret"}
SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
transports:
  udp6:
    family: ipv6
    options: {tos: ef}
trunks:
  provider:
    hosts: [2001:db8:5060::10]
    auth: {username: pod1, password_secret: provider-password}
    registration: {}
    options:
      endpoint: {trust_id_inbound: "yes", send_pai: "yes"}
      aor: {qualify_frequency: "30"}
      registration: {line: "yes", endpoint: provider}
endpoints:
  desk:
    auth: {password_secret: desk-password}
    options:
      endpoint: {100rel: "no", device_state_busy_at: "2", moh_suggest: jazz}
      aor: {qualify_timeout: "2.5"}
"""


def sections(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """(section name, type) -> its options, as Asterisk reads pjsip.conf."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    found, _ = confparse.structure(confparse.parse(text))
    for header, settings in found:
        values = {s.name: s.value for s in settings}
        out[(header.name, values.get("type", ""))] = values
    return out


def problems_of(body: str) -> list[str]:
    with pytest.raises(SiteInvalid) as caught:
        load_text(textwrap.dedent(body), SECRETS)
    return [str(p) for p in caught.value.problems]


def test_options_render_into_their_objects() -> None:
    """Each option lands in the section of its object type, after the typed ones."""
    pjsip = sections(render(load_text(SITE, SECRETS), CONTEXT)["pjsip.conf"])
    assert pjsip[("udp6", "transport")]["tos"] == "ef"
    assert pjsip[("provider", "endpoint")]["trust_id_inbound"] == "yes"
    assert pjsip[("provider", "aor")]["qualify_frequency"] == "30"
    assert pjsip[("provider", "registration")]["line"] == "yes"
    assert pjsip[("desk", "endpoint")]["100rel"] == "no"
    assert pjsip[("desk", "endpoint")]["moh_suggest"] == "jazz"
    assert pjsip[("desk", "aor")]["qualify_timeout"] == "2.5"


def test_typed_unsafe_unknown_and_bad_values_are_refused_with_the_reason() -> None:
    """Options a field sets, ones that undo a guarantee, undocumented ones and values outside
    the documented list are each refused at their own key and line."""
    body = SITE.replace(
        '      endpoint: {100rel: "no", device_state_busy_at: "2", moh_suggest: jazz}\n',
        "      endpoint:\n"
        "        context: outbound\n"
        '        allow_unauthenticated_options: "yes"\n'
        '        trust_id_inbound: "yes"\n'
        "        100rel: maybe\n"
        '        max_contacts: "2"\n'
        "      auth: {password: x}\n",
    ).replace("    options: {tos: ef}\n", "    options: {local_net: 10.0.0.0/8}\n")
    assert problems_of(body) == [
        "site.yaml:6: transports.udp6.options.local_net: refused: set by nat.pbx.local_networks",
        "site.yaml:21: endpoints.desk.options.endpoint.context: refused: set by context",
        "site.yaml:22: endpoints.desk.options.endpoint.allow_unauthenticated_options: refused: "
        "would answer OPTIONS from anyone without a password: a scanner's probe of which "
        "accounts exist",
        "site.yaml:23: endpoints.desk.options.endpoint.trust_id_inbound: refused: would let a "
        "phone claim any caller identity (P-Asserted-Identity) towards other phones and "
        "providers",
        "site.yaml:24: endpoints.desk.options.endpoint.100rel: 'maybe' is not one of no, "
        "peer_supported, required, yes",
        "site.yaml:25: endpoints.desk.options.endpoint.max_contacts: Asterisk documents no "
        "option max_contacts for a pjsip endpoint",
        "site.yaml:26: endpoints.desk.options.auth: endpoints render no pjsip auth to add "
        "options to (only endpoint, aor, identify)",
    ]


def test_option_values_cannot_carry_a_comment_or_a_line() -> None:
    """A value with `;` or a line break is refused before rendering."""
    body = SITE.replace("moh_suggest: jazz", 'moh_suggest: "jazz;x"')
    assert problems_of(body) == [
        "site.yaml:20: endpoints.desk.options.endpoint.moh_suggest: 'jazz;x': ';' starts a "
        "comment in Asterisk's config files"
    ]


def test_every_option_the_renderer_writes_is_typed_or_refused() -> None:
    """No option may be given twice: whatever the renderer writes into a trunk's, phone's or
    transport's section is in the typed (or unsafe) table for that owner and object."""
    loaded = load_site_dirs([EXAMPLES / "home" / "site"], [EXAMPLES / "home" / "secrets"])
    site = loaded.site
    pjsip = sections(render(loaded, CONTEXT)["pjsip.conf"])
    owners = {**dict.fromkeys(site.transports, "transport"), **dict.fromkeys(site.trunks, "trunk")}
    owners |= dict.fromkeys(site.endpoints, "endpoint")
    checked = 0
    for (name, kind), values in pjsip.items():
        owner = owners.get(name)
        if owner is None or kind == "auth":
            continue
        for option in values:
            refused = TYPED[(owner, kind)].keys() | UNSAFE.get(kind, {}).keys()  # type: ignore[index]
            assert option in refused, (owner, kind, option)
            checked += 1
    assert checked > 50


def test_the_tables_name_only_documented_options() -> None:
    """Every option the typed and unsafe tables name is one Asterisk documents for its type."""
    for (_, kind), names in TYPED.items():
        assert set(names) <= set(facts().pjsip(kind).options), kind  # type: ignore[union-attr]
    for kind, names in UNSAFE.items():
        assert set(names) <= set(facts().pjsip(kind).options), kind  # type: ignore[union-attr]
    assert set(UNSAFE_ON_PHONE) <= set(facts().pjsip("endpoint").options)  # type: ignore[union-attr]
    for kinds in OBJECTS.values():
        assert all(facts().pjsip(kind) is not None for kind in kinds)


def test_options_for_an_object_the_trunk_does_not_render_are_refused() -> None:
    """registration options on a trunk that does not register, identify options on one
    identified by nothing: refused instead of silently dropped."""
    body = (
        "addresses: {ipv6: 2001:db8:e8b1::1:1}\n"
        "trunks:\n"
        "  provider:\n"
        "    hosts: [sip.provider.example]\n"
        "    family: ipv6\n"
        "    options:\n"
        '      registration: {line: "yes"}\n'
        '      identify: {srv_lookups: "no"}\n'
    )
    assert problems_of(body) == [
        "site.yaml:7: trunks.provider.options.registration: the trunk does not register",
        "site.yaml:8: trunks.provider.options.identify: the trunk renders no identify (no "
        "identify, no host given as an address)",
    ]
