"""Voicemail in the site model: boxes per endpoint with the PIN from the Secret, fallbacks per
extension and ring group, access extensions, limits, and file:line: key errors for each mistake."""

from __future__ import annotations

import textwrap

import pytest

from supervisor.site.errors import SiteInvalid
from supervisor.site.load import load_site
from tests.supervisor.site.sites import config_mount, load_text, secret_mount

SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
endpoints:
  desk:
    auth: {password_secret: desk-password}
    voicemail: {pin_secret: desk-pin}
  kitchen:
    auth: {password_secret: kitchen-password}
dialplan:
  extensions:
    "11": desk
    "12": kitchen
"""
SECRETS = {"desk-password": "desk-secret", "kitchen-password": "k-secret", "desk-pin": "4321"}


def problems(text: str, secrets: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SiteInvalid) as caught:
        load_text(textwrap.dedent(text), SECRETS if secrets is None else secrets)
    return [str(p) for p in caught.value.problems]


def test_box_number_defaults_to_the_extension_that_rings_the_endpoint() -> None:
    """A box without `number` is known by the lowest extension (in dialling order: shorter
    first) that rings its endpoint."""
    site = load_text(SITE + '    "10": desk\n    "100": desk\n    "09": desk\n', SECRETS)
    assert site.site.mailboxes() == {"desk": "09"}
    site = load_text(SITE + '    "100": desk\n', SECRETS)
    assert site.site.mailboxes() == {"desk": "11"}
    assert site.secrets["desk-pin"] == "4321"


@pytest.mark.parametrize(
    ("pin", "shown"),
    [("12a4", "12a4"), ("123", "123"), ("1234567890123", "1234567890123"), ("12 34", "12 34")],
)
def test_pin_must_be_digits_and_is_never_shown(pin: str, shown: str) -> None:
    """A PIN that is not 4-12 digits is refused at its key's line, without its value."""
    found = problems(SITE, {**SECRETS, "desk-pin": pin})
    assert found == [
        "site.yaml:6: endpoints.desk.voicemail.pin_secret: secret key 'desk-pin' is not a PIN "
        "(4 to 12 digits)"
    ]
    assert shown not in found[0]


def test_pin_inline_is_an_unknown_key_and_a_missing_secret_key_is_named() -> None:
    """`pin:` inline is not a field; a pin_secret absent from the Secret names the key."""
    text = SITE.replace("{pin_secret: desk-pin}", "{pin: '1234'}")
    assert problems(text) == [
        "site.yaml:6: endpoints.desk.voicemail.pin: unknown key (known: pin_secret, number, email)",
        "site.yaml:6: endpoints.desk.voicemail.pin_secret: required",
    ]
    missing = {k: v for k, v in SECRETS.items() if k != "desk-pin"}
    assert problems(SITE, missing) == [
        "site.yaml:6: endpoints.desk.voicemail.pin_secret: secret key 'desk-pin' is not in the "
        "secrets (/secrets)"
    ]


def test_box_problems_are_reported_at_their_keys() -> None:
    """A box on a device without auth, a box nobody can number, a number used twice."""
    text = """\
    addresses:
      ipv6: 2001:db8:e8b1::1:1
      ipv4: 203.0.113.10
    endpoints:
      desk:
        auth: {password_secret: desk-password}
        voicemail: {pin_secret: desk-pin}
      kitchen:
        auth: {password_secret: kitchen-password}
        voicemail: {pin_secret: desk-pin, number: "11"}
      hall:
        auth: {password_secret: kitchen-password}
        voicemail: {pin_secret: desk-pin}
      bell:
        identify: [198.51.100.20]
        family: ipv4
        voicemail: {pin_secret: desk-pin, number: "30"}
    dialplan:
      extensions: {"11": desk}
    """
    assert problems(text) == [
        "site.yaml:10: endpoints.kitchen.voicemail.number: box number 11 is also endpoint desk's",
        "site.yaml:13: endpoints.hall.voicemail: give number: no extension in "
        "dialplan.extensions rings hall",
        "site.yaml:17: endpoints.bell.voicemail: a voicemail box needs auth: its phone must "
        "register to be called",
    ]


def test_ring_group_voicemail_and_access_extension_problems() -> None:
    """A group's box must be an endpoint with a box, not beside a fallback; access extensions
    must be free; limits are bounded."""
    text = (
        SITE
        + """\
    "*97": kitchen
  ring_groups:
    a: {endpoints: [desk], voicemail: kitchen}
    b: {endpoints: [desk], voicemail: nobody}
    c: {endpoints: [kitchen], fallback: a, voicemail: desk}
voicemail:
  max_message_s: 5
  access_any: "*97x"
"""
    )
    # Field and cross-reference problems together, each at its own line.
    assert problems(text) == [
        "site.yaml:15: dialplan.ring_groups.a.voicemail: endpoint kitchen has no voicemail box",
        "site.yaml:16: dialplan.ring_groups.b.voicemail: unknown endpoint 'nobody'",
        "site.yaml:17: dialplan.ring_groups.c.voicemail: give fallback or voicemail, not both "
        "(the fallback's own voicemail applies)",
        "site.yaml:18: voicemail.access: *97 is also in dialplan.extensions",
        "site.yaml:19: voicemail.max_message_s: must be at least 10",
        "site.yaml:20: voicemail.access_any: '*97x' is not an extension number (digits, '*', '#'; "
        "not '#' first)",
    ]


def test_extension_route_long_form_and_its_errors() -> None:
    """`{ring: x, voicemail: false}` is accepted; unknown keys and non-bools are pinned."""
    good = SITE.replace('"12": kitchen', '"12": {ring: desk, voicemail: false}')
    route = load_text(good, SECRETS).site.dialplan.extensions["12"]
    assert (route.ring, route.voicemail) == ("desk", False)
    bad = SITE.replace('"12": kitchen', '"12": {ring: desk, voicemail: "no", rings: x}')
    assert problems(bad) == [
        "site.yaml:12: dialplan.extensions.12.rings: unknown key; did you mean 'ring'?",
        "site.yaml:12: dialplan.extensions.12.voicemail: must be true or false, not 'no'",
    ]


def test_email_is_validated_and_kept_out_of_every_file() -> None:
    """An e-mail address with a separator is refused; without a relay a valid one is written
    nowhere."""
    bad = SITE.replace("{pin_secret: desk-pin}", '{pin_secret: desk-pin, email: "a,b@x.org"}')
    assert problems(bad) == [
        "site.yaml:6: endpoints.desk.voicemail.email: 'a,b@x.org' is not an e-mail address "
        "(user@host, no spaces or quotes)"
    ]
    from supervisor.render import RenderContext, render

    text = SITE.replace("{pin_secret: desk-pin}", "{pin_secret: desk-pin, email: d@example.org}")
    loaded = load_site([config_mount(("site.yaml", text))], [secret_mount(SECRETS)])
    files = render(loaded, RenderContext(ami_secret="test-secret-0123"))
    assert not any("example.org" in t for t in files.values())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "12",
            "must be an endpoint or ring group name, or a mapping {ring: NAME, voicemail: "
            "false}, not 12",
        ),
        ('"de sk"', "'de sk' is not a name (letters, digits, '_', '.', '-'; at most 40)"),
        ("nobody", "unknown endpoint, ring group or flow 'nobody'"),
        (
            "[desk]",
            "must be an endpoint or ring group name, or a mapping {ring: NAME, "
            "voicemail: false}, not ['desk']",
        ),
    ],
)
def test_extension_shorthand_errors_are_at_the_extension_key(value: str, message: str) -> None:
    """A bad `"12": value` is reported at dialplan.extensions.12 (no `ring` the user never
    wrote), with what is allowed."""
    assert problems(SITE.replace('"12": kitchen', f'"12": {value}')) == [
        f"site.yaml:12: dialplan.extensions.12: {message}"
    ]
