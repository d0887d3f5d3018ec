"""`asterisk-supervisor calls` over a record file: table, JSON, filters, errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from supervisor.cli import main
from tests.supervisor.records.recorded import recorded


def test_table_and_json_of_recent_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Calls of the last day, newest first, as a table and as one JSON document."""
    store = recorded(tmp_path, offset=time.time() - 3600)
    assert main(["calls", "--record", str(store.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert "+4930555" in lines[1]
    assert main(["calls", "--record", str(store.path), "--format", "json", "--number", "sipp"]) == 0
    calls = json.loads(capsys.readouterr().out)["calls"]
    assert [c["outcome"] for c in calls] == ["no_answer", "busy", "answered"]


def test_since_excludes_older_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--since 30m leaves out calls of an hour ago."""
    store = recorded(tmp_path, offset=time.time() - 3600)
    assert main(["calls", "--record", str(store.path), "--since", "30m"]) == 0
    assert capsys.readouterr().out == "no calls\n"


def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad span, a bad limit and a missing record: exit 2 with one line, JSON when asked."""
    store = recorded(tmp_path)
    assert main(["calls", "--record", str(store.path), "--since", "soon"]) == 2
    assert "since" in capsys.readouterr().err
    assert main(["calls", "--record", str(store.path), "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err
    missing = str(tmp_path / "missing.db")
    assert main(["calls", "--record", missing, "--format", "json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "io"
    assert "missing.db" in error["message"]
