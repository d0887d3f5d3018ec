"""voicemail.conf with an SMTP relay: the WAV attached, mailcmd the enqueue script with the
queue and its bounds, each box line `number => pin,name,email` with exactly those fields."""

from __future__ import annotations

import pytest

from supervisor.reload import conffile
from supervisor.render import RenderContext, render
from supervisor.render.voicemail import box_addresses
from supervisor.site.load import load_site
from tests.supervisor.site.sites import config_mount, secret_mount

SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
endpoints:
  desk:
    auth: {password_secret: desk-password}
    voicemail: {pin_secret: desk-pin, email: Desk.Owner+vm@example.org}
  kitchen:
    auth: {password_secret: kitchen-password}
    voicemail: {pin_secret: kitchen-pin}
dialplan:
  extensions:
    "11": desk
    "12": kitchen
voicemail:
  email:
    host: mail.example.org
    sender: pbx@example.org
    max_queued: 20
"""
SECRETS = {
    "desk-password": "d-secret",
    "kitchen-password": "k-secret",
    "desk-pin": "864209",
    "kitchen-pin": "1357",
}
CONTEXT = RenderContext(
    ami_secret="test-secret-0123",
    mail_enqueue="/opt/supervisor/enqueue.sh",
    mail_queue="/var/spool/asterisk/supervisor/mail",
)


def sections(text: str = SITE) -> dict[str, list[tuple[str, str]]]:
    loaded = load_site([config_mount(("site.yaml", text))], [secret_mount(SECRETS)])
    rendered = render(loaded, CONTEXT)["voicemail.conf"]
    return {s.name: s.options for s in conffile.parse(rendered)}


def test_a_relay_attaches_the_wav_and_pipes_mail_to_the_enqueue_script() -> None:
    """attach, serveremail and mailcmd (script, queue, max messages, max bytes) in [general]."""
    general = dict(sections()["general"])
    assert general["attach"] == "yes"
    assert general["serveremail"] == "pbx@example.org"
    assert general["mailcmd"] == (
        "/bin/sh /opt/supervisor/enqueue.sh /var/spool/asterisk/supervisor/mail 20 10000000"
    )
    assert general["format"] == "wav"


def test_box_lines_have_exactly_pin_name_and_address() -> None:
    """A box with an address gets it as the third field; one without has two fields."""
    boxes = dict(sections()["default"])
    assert boxes == {"11": "864209,desk,Desk.Owner+vm@example.org", "12": "1357,kitchen"}
    assert [len(v.split(",")) for v in boxes.values()] == [3, 2]


def test_without_a_relay_no_address_or_mailcmd_is_written() -> None:
    """No voicemail.email: attach=no, no mailcmd, the box line without its address."""
    text = SITE.split("voicemail:\n")[0]
    rendered = sections(text)
    assert dict(rendered["general"])["attach"] == "no"
    assert "mailcmd" not in dict(rendered["general"])
    assert dict(rendered["default"])["11"] == "864209,desk"


def test_recipients_allowed_are_the_boxes_addresses_lowercased() -> None:
    """The delivery's allow list is what voicemail.conf names, case-insensitively."""
    loaded = load_site([config_mount(("site.yaml", SITE))], [secret_mount(SECRETS)])
    assert box_addresses(loaded.site) == {"desk.owner+vm@example.org"}


@pytest.mark.parametrize("path", ["/a b/enqueue.sh", "/x;reboot", "relative.sh", "/$(id)"])
def test_mailcmd_paths_are_plain(path: str) -> None:
    """A path that the shell would split or expand is refused before it reaches mailcmd."""
    with pytest.raises(ValueError, match="mail_enqueue"):
        RenderContext(ami_secret="test-secret-0123", mail_enqueue=path)
