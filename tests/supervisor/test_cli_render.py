"""`asterisk-supervisor render`: writes every file 0640, refuses an invalid site."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from lab import sites
from lab.audio import wav_tone
from supervisor.cli import main
from supervisor.render import RenderContext, render
from supervisor.site import audio
from supervisor.site.load import load_site_dirs
from tests.supervisor.site.sites import EXAMPLES

HOME = EXAMPLES / "home"


def test_render_writes_the_files_0640(tmp_path: Path) -> None:
    """render --out writes what render() returns, each file mode 0640, nothing else."""
    out = tmp_path / "out"
    assert (
        main(["render", str(HOME / "site"), "--secrets", str(HOME / "secrets"), "--out", str(out)])
        == 0
    )
    loaded = load_site_dirs([HOME / "site"], [HOME / "secrets"])
    expected = render(loaded, RenderContext(ami_secret="x"))
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        if path.name != "manager.conf":  # a fresh AMI secret each time
            assert path.read_text() == expected[path.name]


def test_render_without_secrets_uses_placeholders(tmp_path: Path) -> None:
    """Without --secrets the files are written with placeholder passwords, for review."""
    assert main(["render", str(HOME / "site"), "--out", str(tmp_path)]) == 0
    assert "password = (secret desk-password)" in (tmp_path / "pjsip.conf").read_text()


def test_invalid_site_writes_nothing(tmp_path: Path) -> None:
    """An invalid site exits 1 and leaves --out untouched."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "site.yaml").write_text("addresses: {ipv6: nope}\n")
    assert main(["render", str(tmp_path / "site"), "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()


def test_render_writes_the_named_audio_files(tmp_path: Path) -> None:
    """A site naming audio:hello.wav gets its canonical copy in --out/audio, 0640, under the
    content-addressed name the dialplan plays."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "site.yaml").write_text(yaml.safe_dump(sites.with_audio(sites.home()), sort_keys=False))
    (site / "hello.wav").write_bytes(wav_tone(0.5))
    (site / "hold.wav").write_bytes(wav_tone(0.5, hz=700))
    out = tmp_path / "out"
    assert main(["render", str(site), "--secrets", str(HOME / "secrets"), "--out", str(out)]) == 0
    hello = audio.check("hello.wav", wav_tone(0.5))
    copy = out / "audio" / hello.stored
    assert copy.read_bytes() == hello.data
    assert stat.S_IMODE(copy.stat().st_mode) == 0o640
    assert len(list((out / "audio").iterdir())) == 2
    assert f"/etc/asterisk/audio/{hello.playable})" in (out / "extensions.conf").read_text()
