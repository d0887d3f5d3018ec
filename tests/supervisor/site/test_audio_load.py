"""Loading a site with audio files: references resolve to checked files; a missing or bad file
is a located problem (the key that names it, or the file itself)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.audio import wav_tone as tone
from supervisor.site import limits, mounts
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import load_site
from supervisor.site.mounts import Mount, read_mount
from tests.supervisor.site.audiosite import audio_files, audio_site, load_audio
from tests.supervisor.site.flowsite import SECRETS
from tests.supervisor.site.sites import secret_mount


def problems(site: dict[str, object], files: dict[str, bytes]) -> list[str]:
    with pytest.raises(SiteInvalid) as caught:
        load_audio(site, files)
    return [str(p) for p in caught.value.problems]


def test_named_files_are_loaded_with_their_lengths() -> None:
    """Every file the config directory holds is checked and kept by name with its length."""
    loaded = load_audio()
    assert {n: a.seconds for n, a in loaded.audio.items()} == {
        "closed.wav": 2.5,
        "hold.wav": 3.0,
        "welcome.wav": 1.0,
    }
    assert loaded.audio["welcome.wav"].kind == "wav16"


def test_a_missing_file_is_located_at_the_key_naming_it() -> None:
    """An announcement naming a file no config directory holds: file, line and key."""
    files = audio_files()
    del files["closed.wav"]
    found = problems(audio_site(), files)
    assert len(found) == 1
    assert found[0].startswith("site.yaml:")
    assert "dialplan.announcements.closed-message.sound" in found[0]
    assert "no audio file 'closed.wav'" in found[0]


def test_a_bad_file_is_located_at_the_file() -> None:
    """A stereo file is refused at its own path, with the sox command."""
    found = problems(audio_site(), {**audio_files(), "hold.wav": tone(0.5, channels=2)})
    assert found == [
        "/config/hold.wav: is 16-bit PCM, stereo, 8000 Hz; Asterisk plays 16-bit PCM mono at 8 "
        "or 16 kHz, or G.711 mono at 8 kHz: convert it: sox hold.wav -r 8000 -c 1 -b 16 "
        "-e signed-integer hold-8k.wav, then ship hold-8k.wav as hold.wav"
    ]


def test_references_must_be_audio_names_and_classes_must_exist() -> None:
    """`audio:` with a name outside the grammar, and an endpoint's unknown hold class, are
    refused at their keys."""
    site = audio_site()
    site["music_on_hold"]["office"]["files"] = ["audio:../etc/passwd"]
    site["endpoints"]["desk"]["music_on_hold"] = "jazz"
    found = problems(site, audio_files())
    assert any("music_on_hold.office.files[0]" in p and "not an audio file" in p for p in found)
    site = audio_site()
    site["endpoints"]["desk"]["music_on_hold"] = "jazz"
    found = problems(site, audio_files())
    assert found == [
        next(p for p in found if "endpoints.desk.music_on_hold" in p),
    ]
    assert "unknown music-on-hold class 'jazz'" in found[0]


def test_the_same_file_in_two_directories_is_refused() -> None:
    """Two config directories holding one file name: which one plays would be a guess."""
    text = yaml.safe_dump(audio_site(), sort_keys=False).encode()
    first = Mount(path=Path("/config"), files={"site.yaml": text, **audio_files()})
    second = Mount(path=Path("/volume"), files={"hold.wav": tone(1.0)})
    with pytest.raises(SiteInvalid) as caught:
        load_site([first, second], [secret_mount(SECRETS)])
    assert [str(p) for p in caught.value.problems] == [
        "/volume/hold.wav: duplicate audio file (also /config/hold.wav)"
    ]


def test_a_config_directory_reads_audio_as_bytes_within_bounds(tmp_path: Path) -> None:
    """A plain directory (the volume) gives its WAV as bytes; a Secret's files stay text (a
    binary one there is refused); an audio file over the size limit is refused at the file."""
    (tmp_path / "hold.wav").write_bytes(tone(0.1))
    (tmp_path / "big.ulaw").write_bytes(b"\xff" * (4 * 1024 * 1024 + 1))
    mount = read_mount(tmp_path, audio=True)
    assert mount.files["hold.wav"] == tone(0.1)
    assert [str(p) for p in mount.problems] == [
        f"{tmp_path}/big.ulaw: is larger than the limit of 4194304 bytes"
    ]
    as_secret = read_mount(tmp_path)
    assert "hold.wav" not in as_secret.files


def test_more_files_than_the_limit_is_one_problem() -> None:
    """Past MAX_AUDIO_FILES the site is refused with one problem at the first file over it."""
    extra = {f"x{i:03d}.ulaw": b"\xff" * 80 for i in range(limits.MAX_AUDIO_FILES)}
    found = problems(audio_site(), {**audio_files(), **extra})
    assert len(found) == 1
    assert found[0].endswith(f": more than {limits.MAX_AUDIO_FILES} audio files")


def test_a_directory_over_the_audio_byte_limit_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audio files of one directory together past MAX_AUDIO_DIR_BYTES: the directory is
    refused as a whole (what a smaller limit shows without writing 16 MiB)."""
    monkeypatch.setattr(mounts, "MAX_AUDIO_DIR_BYTES", 3 * 1024 * 1024)
    for name in ("a.ulaw", "b.ulaw", "c.ulaw", "d.ulaw"):
        (tmp_path / name).write_bytes(b"\xff" * (1024 * 1024))
    mount = read_mount(tmp_path, audio=True)
    assert mount.unreadable == "holds more than 3 MiB of audio"
    assert mount.files == {}
