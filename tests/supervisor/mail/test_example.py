"""The example site's commented relay block (examples/home, docs/mail.md) is a working config:
uncommented, it loads with the Secret keys it names and gives the kitchen's box its e-mail."""

from __future__ import annotations

import re

from supervisor.mail.relay import Relay
from supervisor.render import RenderContext, render
from supervisor.site.load import load_site
from tests.supervisor.site.sites import EXAMPLES, config_mount, secret_mount

SITE = EXAMPLES / "home" / "site" / "site.yaml"
BLOCK = re.compile(r"^  # (email:\n(?:  #   .*\n)+)", re.MULTILINE)


def test_the_examples_commented_relay_block_loads_and_mails_the_kitchens_box() -> None:
    """The block, uncommented, is valid; the relay and the boxes' addresses follow from it."""
    text = SITE.read_text()
    (block,) = BLOCK.findall(text)
    enabled = BLOCK.sub(lambda _: "  " + block.replace("  #   ", "    "), text)
    secrets = {p.name: p.read_text() for p in (EXAMPLES / "home" / "secrets").iterdir()}
    secrets |= {"smtp-username": "pbx", "smtp-password": "relay-password"}
    loaded = load_site([config_mount(("site.yaml", enabled))], [secret_mount(secrets)])
    relay = Relay.from_site(loaded.site, loaded.secrets)
    assert relay is not None
    assert relay.where == "smtp.example.org:587 (starttls)"
    assert (relay.sender, relay.username) == ("voicemail@example.org", "pbx")
    assert relay.recipients == frozenset({"kitchen@example.org"})
    voicemail = render(loaded, RenderContext(ami_secret="test-secret-0123"))["voicemail.conf"]
    assert re.search(r"^12 => \d+,kitchen,kitchen@example.org$", voicemail, re.MULTILINE)
