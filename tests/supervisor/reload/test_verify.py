"""Read-back: what Asterisk reports over AMI against what the rendered files declare."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from supervisor.ami.types import Message
from supervisor.reload import conffile
from supervisor.reload import verify as verify_module
from supervisor.reload.verify import verify
from tests.supervisor.reload.fakes import FakeAsterisk

PJSIP = (
    "[desk]\ntype = endpoint\ncontext = internal\naors = desk\n[desk]\ntype = aor\n"
    "[p]\ntype = auth\nusername = u\npassword = secret-1\n"
    "[p]\ntype = registration\nserver_uri = sip:a\nclient_uri = sip:u@a\noutbound_auth = p\n"
)
EXT = "[internal]\nexten => 11,1,Dial(PJSIP/desk)\nsame => n,Hangup()\n"


@pytest.fixture
def asterisk(tmp_path: Path) -> FakeAsterisk:
    fake = FakeAsterisk(tmp_path)
    fake.pjsip, fake.extensions = PJSIP, EXT
    return fake


async def test_matching_config_verifies(asterisk: FakeAsterisk) -> None:
    """Everything declared is live as declared: no problems."""
    assert await verify(asterisk, {"pjsip.conf": PJSIP, "extensions.conf": EXT}) == []


async def test_missing_and_extra_objects(asterisk: FakeAsterisk) -> None:
    """A declared endpoint missing in Asterisk and a live one no longer declared are both named."""
    wanted = PJSIP.replace("[desk]", "[kitchen]")
    problems = await verify(asterisk, {"pjsip.conf": wanted})
    assert "endpoints missing in Asterisk: kitchen" in problems
    assert "endpoints still in Asterisk but not in the config: desk" in problems


async def test_kept_old_value_is_a_mismatch(asterisk: FakeAsterisk) -> None:
    """An endpoint Asterisk kept with its old context (invalid new option) fails the read-back."""
    wanted = PJSIP.replace("context = internal", "context = local")
    problems = await verify(asterisk, {"pjsip.conf": wanted})
    assert problems == ["endpoint desk: context is 'internal', config says 'local'"]


async def test_password_mismatch_never_shows_the_password(asterisk: FakeAsterisk) -> None:
    """An auth still holding the old password is reported without either password."""
    problems = await verify(asterisk, {"pjsip.conf": PJSIP.replace("secret-1", "secret-2")})
    assert problems == ["auth p: password differs from the config (not shown)"]


async def test_dialplan_mismatch(asterisk: FakeAsterisk) -> None:
    """A dialplan extension with other applications than declared is reported."""
    problems = await verify(asterisk, {"extensions.conf": EXT.replace("Hangup", "Busy")})
    assert problems == ["dialplan internal,11: Asterisk runs Dial, Hangup; config says Dial, Busy"]


class NoDialplanRights(FakeAsterisk):
    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        if action["Action"] == "ShowDialPlan":
            return [{"Response": "Error", "Message": "Permission denied"}]
        return await super().action(action, timeout=timeout)


async def test_read_back_the_user_may_not_send_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the right to ShowDialPlan the dialplan check is skipped with a warning."""
    fake = NoDialplanRights(tmp_path)
    fake.extensions = EXT
    verify_module._warned.clear()  # warned once per process
    assert await verify(fake, {"extensions.conf": EXT.replace("Hangup", "Busy")}) == []
    assert "may not send ShowDialPlan" in caplog.text


def test_repeated_set_var_is_compared_as_a_set() -> None:
    """Two set_var lines match Asterisk's one comma-joined SetVar in any order; a variable
    Asterisk lacks is a mismatch."""
    options = [("type", "endpoint"), ("set_var", "PHONE_ENDPOINT=desk")]
    section = conffile.Section("desk", [*options, ("set_var", "VOICEMAIL_BOX=11")])
    fields = verify_module.ENDPOINT_FIELDS
    live = {"SetVar": "VOICEMAIL_BOX=11,PHONE_ENDPOINT=desk"}
    assert verify_module._compare_fields("endpoint", "desk", section, live, fields) == []
    stale = {"SetVar": "VOICEMAIL_BOX=11"}
    assert verify_module._compare_fields("endpoint", "desk", section, stale, fields) == [
        "endpoint desk: set_var is 'VOICEMAIL_BOX=11', config says "
        "'PHONE_ENDPOINT=desk,VOICEMAIL_BOX=11'"
    ]
