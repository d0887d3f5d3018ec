"""Live voicemail changes through the apply pipeline (fake Asterisk speaking AMI's replies): a PIN
or a limit change reloads only app_voicemail and is read back; a box Asterisk did not load fails
the apply and the previous voicemail.conf is restored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lab import sites
from supervisor.ami.types import Message
from supervisor.reload.verify import verify
from tests.supervisor.reload.conftest import Rig
from tests.supervisor.reload.fakes import FakeAsterisk


async def test_pin_change_reloads_app_voicemail_only(rig: Rig) -> None:
    """A new PIN in the Secret rewrites voicemail.conf only and reloads app_voicemail.so only."""
    rig.start()
    rig.swap_secrets({**sites.secrets(), "desk-voicemail-pin": "97531"})
    result = await rig.applier.apply()
    assert result.outcome == "applied", result.problems
    assert result.changed == ("voicemail.conf",)
    assert rig.asterisk.reloads == ["app_voicemail.so"]
    assert "11 => 97531,desk" in rig.text("voicemail.conf")
    assert any(a["Action"] == "VoicemailUsersList" for a in rig.asterisk.actions)


async def test_limit_change_is_read_back(rig: Rig) -> None:
    """A changed limit is compared with what every box reports (MaxMessageCount)."""
    rig.start()
    rig.swap_site(sites.home(voicemail={"max_messages": 25}))
    result = await rig.applier.apply()
    assert result.outcome == "applied", result.problems
    assert "maxmsg = 25" in rig.text("voicemail.conf")


async def test_box_asterisk_did_not_load_fails_and_restores(rig: Rig) -> None:
    """app_voicemail keeping its old boxes (a file it could not use) is caught by the
    read-back: the apply fails, names the box, and the previous voicemail.conf is back."""
    rig.start()
    before = rig.text("voicemail.conf")
    site = sites.home()
    site["endpoints"]["desk"]["voicemail"]["number"] = "19"
    rig.asterisk.keep_old = True
    rig.swap_site(site)
    result = await rig.applier.apply()
    assert result.outcome == "failed"
    assert any("voicemail boxes missing in Asterisk: 19@default" in p for p in result.problems)
    assert rig.text("voicemail.conf") == before
    assert rig.value("asterisk_supervisor_last_reload_successful") == 0


async def test_mwi_mailboxes_of_an_endpoint_are_read_back(tmp_path: Path) -> None:
    """An endpoint running with other MWI boxes (or another own box for *97) than declared is
    a read-back problem naming the option, as for every endpoint field."""
    pjsip = (
        "[desk]\ntype = endpoint\ncontext = internal\nmailboxes = 11@default\n"
        "set_var = VOICEMAIL_BOX=11\n"
    )

    class Stale(FakeAsterisk):
        async def action(
            self, action: Mapping[str, str], *, timeout: float = 5.0
        ) -> Sequence[Message]:
            reply = list(await super().action(action, timeout=timeout))
            if action["Action"] == "PJSIPShowEndpoint":
                reply[1] = {**reply[1], "Mailboxes": "12@default", "SetVar": "VOICEMAIL_BOX=12"}
            return reply

    asterisk = Stale(tmp_path)
    asterisk.pjsip = pjsip
    problems = await verify(asterisk, {"pjsip.conf": pjsip})
    assert "endpoint desk: mailboxes is '12@default', config says '11@default'" in problems
    assert (
        "endpoint desk: set_var is 'VOICEMAIL_BOX=12', config says 'VOICEMAIL_BOX=11'" in problems
    )
