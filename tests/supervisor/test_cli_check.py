"""`asterisk-supervisor check`: exit codes, every problem listed, JSON for CI, kubelet mounts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supervisor.cli import main
from tests.supervisor.site.sites import EXAMPLES
from tests.supervisor.site.test_mounts import make_kubelet_mount

HOME = EXAMPLES / "home"


def test_valid_site_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """A valid site with its secrets exits 0 and says what it holds."""
    assert main(["check", str(HOME / "site"), "--secrets", str(HOME / "secrets")]) == 0
    assert capsys.readouterr().out.startswith("valid: 1 trunk(s), 3 endpoint(s)")


def test_without_secrets_the_configmap_alone_is_checked() -> None:
    """Without --secrets, a site whose Secret is not at hand still validates."""
    assert main(["check", str(HOME / "site")]) == 0


def test_invalid_site_exits_one_listing_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid site exits 1 and prints each problem as file:line: key: message on stderr."""
    (tmp_path / "site.yaml").write_text(
        "addresses: {ipv6: 2001:db8::1}\nendpoints:\n  a: {qualify: -1, identify: [2001:db8::2]}\n"
        "transports: {udp6: {family: ipv6, protocl: udp}}\n"
    )
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "site.yaml:3: endpoints.a.qualify: must be at least 0",
        "site.yaml:4: transports.udp6.protocl: unknown key; did you mean 'protocol'?",
        "2 problems in the site description",
    ]


def test_json_format_for_pipelines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format json prints a machine-readable report with file, line, key and message."""
    (tmp_path / "site.yaml").write_text("addresses: {}\n")
    assert main(["check", str(tmp_path), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "valid": False,
        "problems": [
            {
                "file": "site.yaml",
                "line": 1,
                "key": "addresses",
                "message": "give at least one of ipv6 and ipv4",
            }
        ],
    }
    assert main(["check", str(HOME / "site"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True


def test_usage_error_exits_two() -> None:
    """No config directory is a usage error (exit 2)."""
    with pytest.raises(SystemExit) as caught:
        main(["check"])
    assert caught.value.code == 2


def test_kubelet_configmap_mount_is_read(tmp_path: Path) -> None:
    """A kubelet-style ConfigMap mount (..data symlinks) is checked like a plain directory."""
    site = (HOME / "site" / "site.yaml").read_bytes()
    mount = make_kubelet_mount(tmp_path / "site", {"site.yaml": site})
    assert main(["check", str(mount), "--secrets", str(HOME / "secrets")]) == 0


def test_raw_dialplan_that_cannot_run_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` refuses a raw snippet calling an application whose module the image does not
    have, or one Asterisk no longer has, at the snippet's own line; Playback (a module the
    image has) is fine: it is loaded."""
    (tmp_path / "site.yaml").write_text(
        "addresses: {ipv6: 2001:db8::1}\n"
        "raw:\n"
        "  extensions.conf: |\n"
        "    [ivr]\n"
        "    exten => 1,1,Playback(hello-world)\n"
        "     same => n,DAHDISendKeypadFacility(123)\n"
        "     same => n,SIPAddHeader(X-Test: 1)\n"
    )
    assert main(["check", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "site.yaml:6: raw.extensions.conf: application DAHDISendKeypadFacility is provided by "
        "chan_dahdi, which the image does not have",
        "site.yaml:7: raw.extensions.conf: Asterisk has no application SIPAddHeader",
        "2 problems in the site description",
    ]
