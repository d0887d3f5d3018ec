"""The command line's skeleton: help, version, usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from supervisor import __version__
from supervisor.cli import build_parser, main
from supervisor.cli.run import settings_from
from supervisor.settings import Settings


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version names the program and its version."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"asterisk-supervisor {__version__}"


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command the help is shown and the exit status is the usage error's."""
    assert main([]) == 2
    assert "usage: asterisk-supervisor" in capsys.readouterr().out


def test_module_entry_point_runs() -> None:
    """`python -m supervisor --help` works as the console script does."""
    out = subprocess.run(
        [sys.executable, "-m", "supervisor", "--help"], check=True, capture_output=True, text=True
    ).stdout
    assert "asterisk-supervisor" in out


def test_run_without_options_gives_the_settings_defaults() -> None:
    """`run --config DIR` alone builds exactly Settings' defaults: the CLI types none twice."""
    args = build_parser().parse_args(["run", "--config", "site"])
    assert settings_from(args) == Settings(config_dirs=(Path("site"),))
