"""`asterisk-supervisor explain --dnd/--forward`: the phones' astdb state given on the command
line changes the predicted path; a malformed --forward is a usage error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supervisor.cli import main

HOME = Path(__file__).resolve().parents[2] / "examples" / "home"
ARGS = [str(HOME / "site"), "--secrets", str(HOME / "secrets"), "--to", "+4930123457"]


def explained(capsys: pytest.CaptureFixture[str], *more: str) -> dict[str, Any]:
    assert main(["explain", *ARGS, "--format", "json", *more]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def rings(result: dict[str, Any]) -> list[list[str]]:
    return [step["ring"] for step in result["steps"] if step["ring"]]


def test_dnd_and_forward_change_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    """desk rings by default; with --dnd desk nobody rings and its box answers; with
    --forward desk=12 kitchen rings instead; --forward desk=12:noanswer rings both in turn."""
    assert rings(explained(capsys)) == [["desk"]]
    dnd = explained(capsys, "--dnd", "desk")
    assert rings(dnd) == []
    assert dnd["outcome"] == {"kind": "voicemail", "detail": "11"}
    assert rings(explained(capsys, "--forward", "desk=12")) == [["kitchen"]]
    late = explained(capsys, "--forward", "desk=12:noanswer")
    assert rings(late) == [["desk"], ["kitchen"]]


@pytest.mark.parametrize("bad", ["desk", "desk=", "desk=12:later", "desk=12&PJSIP/x"])
def test_a_malformed_forward_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    """PHONE=NUMBER[:busy|noanswer] with a number of digits and *#+ only, or exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", *ARGS, "--forward", bad])
    assert exit_info.value.code == 2
    assert "--forward" in capsys.readouterr().err
