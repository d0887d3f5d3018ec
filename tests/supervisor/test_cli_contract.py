"""The exit-code contract of every subcommand: 0 done, 1 invalid, 2 could not run; with
`--format json` stdout is always one JSON document; a traceback is never the message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supervisor.cli import main
from tests.supervisor.site.sites import EXAMPLES

HOME = EXAMPLES / "home"


def _crash(*_args: object, **_kwargs: object) -> None:
    raise RecursionError("maximum recursion depth exceeded")


@pytest.mark.parametrize("command", ["check", "addresses"])
def test_internal_error_is_one_line_and_json_stays_json(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crash inside a command exits 2; JSON mode prints a JSON error; the message line comes
    first and the traceback only after it, on stderr."""
    monkeypatch.setattr(f"supervisor.cli.{command}.load_site_dirs", _crash)
    assert main([command, str(HOME / "site"), "--format", "json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["kind"] == "internal"
    assert "RecursionError" in error["message"]
    assert "Traceback" not in captured.out
    assert main([command, str(HOME / "site")]) == 2
    first, *rest = capsys.readouterr().err.splitlines()
    assert first == (
        f"asterisk-supervisor {command}: internal error (RecursionError): "
        "maximum recursion depth exceeded"
    )
    assert "Traceback (most recent call last):" in rest


def test_usage_error_in_json_mode_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    """A usage error with --format json prints a JSON error and exits 2."""
    with pytest.raises(SystemExit) as caught:
        main(["check", "--format", "json"])
    assert caught.value.code == 2
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "usage"


def test_unwritable_output_could_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """render into a path that cannot be a directory exits 2 naming the path, no traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["render", str(HOME / "site"), "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"asterisk-supervisor render: {blocker / 'out'}")
    assert "Traceback" not in err


def test_invalid_site_is_one_for_every_command_that_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check, render and addresses all print the same problem lines and exit 1."""
    (tmp_path / "site.yaml").write_text("addresses: {}\n")
    expected = "site.yaml:1: addresses: give at least one of ipv6 and ipv4"
    for argv in (
        ["check", str(tmp_path)],
        ["render", str(tmp_path), "--out", str(tmp_path / "out")],
        ["addresses", str(tmp_path)],
    ):
        assert main(argv) == 1, argv
        assert capsys.readouterr().err.splitlines()[0] == expected, argv
    assert main(["addresses", str(tmp_path), "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"][0]["key"] == "addresses"
