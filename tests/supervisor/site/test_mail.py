"""`voicemail.email` in the site model: the relay's defaults, its Secret keys checked and
located, and addresses that cannot carry a header."""

from __future__ import annotations

import json

import pytest

from supervisor.site.errors import SiteInvalid
from supervisor.site.load import load_site
from tests.supervisor.site.sites import config_mount, secret_mount

SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
endpoints:
  desk:
    auth: {password_secret: desk-password}
    voicemail: {pin_secret: desk-pin, email: desk@example.org}
dialplan:
  extensions:
    "11": desk
voicemail:
  email:
    host: mail.example.org
    sender: pbx@example.org
    username_secret: smtp-user
    password_secret: smtp-password
"""
SECRETS = {
    "desk-password": "d-secret",
    "desk-pin": "864209",
    "smtp-user": "pbx",
    "smtp-password": "s3cret-relay",
}


def problems(text: str, secrets: dict[str, str] = SECRETS) -> list[str]:
    with pytest.raises(SiteInvalid) as failed:
        load_site([config_mount(("site.yaml", text))], [secret_mount(secrets)])
    return [str(p) for p in failed.value.problems]


def test_relay_defaults_to_submission_with_starttls_and_reads_the_secret() -> None:
    """starttls on 587 by default, 465 for tls; the login comes from the Secret."""
    loaded = load_site([config_mount(("site.yaml", SITE))], [secret_mount(SECRETS)])
    relay = loaded.site.voicemail.email
    assert relay is not None
    assert (relay.security, relay.relay_port) == ("starttls", 587)
    assert loaded.secrets["smtp-password"] == "s3cret-relay"
    tls = SITE.replace("    sender:", "    security: tls\n    sender:")
    relay = load_site([config_mount(("site.yaml", tls))], [secret_mount(SECRETS)]).site
    assert relay.voicemail.email is not None
    assert relay.voicemail.email.relay_port == 465


def test_missing_and_unpaired_secrets_are_located_and_never_shown() -> None:
    """A missing password key, a user without password, an unknown mode: file, line, key."""
    missing = {k: v for k, v in SECRETS.items() if k != "smtp-password"}
    assert problems(SITE, missing) == [
        "site.yaml:15: voicemail.email.password_secret: secret key 'smtp-password' is not in "
        "the secrets (/secrets)"
    ]
    unpaired = SITE.replace("    password_secret: smtp-password\n", "")
    assert problems(unpaired) == [
        "site.yaml:11: voicemail.email: username_secret and password_secret go together"
    ]
    assert problems(SITE.replace("    sender:", "    security: ssl\n    sender:")) == [
        "site.yaml:13: voicemail.email.security: must be one of 'starttls' or 'tls', not 'ssl'"
    ]
    bad_ca = SITE + "    ca_secret: smtp-ca\n"
    (problem,) = problems(bad_ca, {**SECRETS, "smtp-ca": "not a certificate"})
    assert problem == (
        "site.yaml:16: voicemail.email.ca_secret: secret key 'smtp-ca' is not a PEM certificate "
        "(no '-----BEGIN CERTIFICATE-----' line)"
    )


@pytest.mark.parametrize(
    "address",
    [
        "desk@example.org\nBcc: evil@example.net",
        "desk@example.org, evil@example.net",
        '"x" <desk@example.org>',
        "desk@example.org\r\nSubject: x",
        "desk @example.org",
    ],
)
def test_an_address_that_could_add_a_header_or_recipient_is_refused(address: str) -> None:
    """Line breaks, commas, quotes, angle brackets and spaces never reach voicemail.conf."""
    text = SITE.replace("email: desk@example.org}", f"email: {json.dumps(address)}}}")
    (problem,) = problems(text)
    assert problem.startswith("site.yaml:6: endpoints.desk.voicemail.email: ")
    assert "is not an e-mail address" in problem
