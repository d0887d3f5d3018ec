"""A missing tool skips a test on a developer's machine and fails it under CI (lab.required)."""

from __future__ import annotations

import pytest

from lab import required


def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI=true: the test fails (pytest's Failed outcome), naming the tool and its package."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.fail.Exception, match=r"promtool missing .*prometheus.*CI=true"):
        required.tool("promtool", "prometheus")


def test_a_missing_tool_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CI=true the same absence is a skip that says why."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.skip.Exception, match="promtool missing"):
        required.tool("promtool", "prometheus")


def test_a_present_tool_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool on PATH is returned by its full path, CI or not."""
    monkeypatch.setenv("CI", "true")
    assert required.tool("sh", "dash").endswith("/sh")
