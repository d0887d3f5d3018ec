"""`check` and `render` on hostile input: exit 1 with located problems (text: one line each;
JSON: one valid document), exit 2 when a directory given cannot be read, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from supervisor.cli import main
from tests.supervisor.site.sites import EXAMPLES

HOME = EXAMPLES / "home"
HEAD = "addresses: {ipv6: 2001:db8::1}\n"

HOSTILE = {
    "deep nesting": HEAD + "x: " + "[" * 50_000 + "]" * 50_000 + "\n",
    "huge decimal": HEAD + "transports: {t: {family: ipv6, port: " + "9" * 5000 + "}}\n",
    "huge hex": HEAD + "transports: {t: {family: ipv6, port: 0x" + "f" * 5000 + "}}\n",
    "yaml 1.1 octal": HEAD + "transports: {t: {family: ipv6, port: 011704}}\n",
    "tag": HEAD + "trunks: !!python/object:os.system {}\n",
    "alias key": "addresses: {ipv6: &a 2001:db8::1}\ntrunks: {*a : {hosts: [x.example]}}\n",
    "zone id": 'addresses: {ipv6: "fe80::1%eth0\\n[global]\\n#include /etc/passwd"}\n',
    "open identify": HEAD + "endpoints: {door: {identify: ['::/0']}}\n",
    "mid-line block comment": HEAD + 'raw: {extensions.conf: "[x]\\nexten => 1,1,NoOp() ;-- y"}\n',
    "CR header": HEAD + 'raw: {extensions.conf: "[x]\\na = 1\\r[internal]"}\n',
    "forged key": HEAD + '"k\\nsite.yaml:1: fine\\e[2J": 1\n',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_hostile_site_is_invalid_never_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, fmt: str
) -> None:
    """Each hostile class exits 1 with `file:line: key: message` lines or one valid JSON."""
    (tmp_path / "site.yaml").write_text(HOSTILE[name])
    assert main(["check", str(tmp_path), "--format", fmt]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if fmt == "json":
        report = json.loads(captured.out)
        assert report["valid"] is False
        assert all(p["file"] == "site.yaml" and p["line"] for p in report["problems"])
    else:
        lines = captured.err.splitlines()
        assert lines[-1].endswith("in the site description")
        assert all(line.startswith("site.yaml:") for line in lines[:-1]), lines
        assert "\x1b" not in captured.err


@pytest.mark.parametrize("layout", ["x -> x", "..data -> ..data", "..data -> ."])
def test_symlink_loops_in_secrets_are_invalid_with_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    """A looping Secret mount: exit 1, the key named at its site line, JSON still valid."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    if layout == "x -> x":
        os.symlink("provider-password", secrets / "provider-password")
    else:
        os.symlink("..data" if layout.endswith("..data") else ".", secrets / "..data")
        os.symlink("..data/provider-password", secrets / "provider-password")
    assert main(["check", str(HOME / "site"), "--secrets", str(secrets), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    located = [p for p in report["problems"] if p["key"].startswith("trunks.provider.auth")]
    assert located, report
    assert located[0]["file"] == "site.yaml"
    assert located[0]["line"]


def test_missing_secrets_directory_could_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --secrets directory that does not exist: exit 2, an io error naming it, valid JSON."""
    missing = tmp_path / "nope"
    args = ["check", str(HOME / "site"), "--secrets", str(missing), "--format", "json"]
    assert main(args) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["error"]["kind"] == "io"
    assert str(missing) in report["error"]["message"]


def test_render_refuses_hostile_input_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """render exits 1 on an injection attempt and leaves --out empty."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "site.yaml").write_text(HOSTILE["zone id"])
    out = tmp_path / "out"
    assert main(["render", str(site), "--out", str(out)]) == 1
    assert not out.exists() or not any(out.iterdir())
    assert "zone IDs" in capsys.readouterr().err


def test_a_newline_in_a_missing_path_cannot_forge_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing --secrets path holding a newline and a fake problem: one escaped line."""
    missing = tmp_path / "nope\nsite.yaml:1: all fine"
    assert main(["check", str(HOME / "site"), "--secrets", str(missing)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "nope\\nsite.yaml:1: all fine" in err


@pytest.mark.parametrize("where", ["config", "secrets"])
def test_a_file_name_that_is_not_utf8_is_a_located_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """A file named with non-UTF-8 bytes in a config directory: exit 1 with a problem naming
    the file (escaped); in a secrets directory it is skipped like any unreferenced key (no site
    key can name it); never a traceback, JSON always valid."""
    site, secrets = tmp_path / "site", tmp_path / "secrets"
    site.mkdir()
    secrets.mkdir()
    (site / "site.yaml").write_bytes((HOME / "site" / "site.yaml").read_bytes())
    for source in (HOME / "secrets").iterdir():
        if not source.name.startswith("."):
            (secrets / source.name).write_bytes(source.read_bytes())
    target = site if where == "config" else secrets
    with open(os.path.join(os.fsencode(target), b"bad\xff.yaml"), "w") as handle:
        handle.write("addresses: {}\n")
    status = main(["check", str(site), "--secrets", str(secrets), "--format", "json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    problems = json.loads(captured.out)["problems"]
    if where == "secrets":
        assert (status, problems) == (0, [])
        return
    assert status == 1
    assert [p["message"] for p in problems] == [
        "the file name is not UTF-8 text: rename it (the file is not read)"
    ]
    assert problems[0]["file"].endswith("bad\\xff.yaml")
