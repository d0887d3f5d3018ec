"""Applying audio changes live: a changed file is written under a new name before the config
that names it, the module that reads that config is reloaded, and the old file is removed once
the change is live (kept if it is not)."""

from __future__ import annotations

from lab import sites
from lab.audio import wav_tone
from lab.kubelet import write_mount
from supervisor.reload import Mounts
from supervisor.reload.configdir import ConfigDir
from supervisor.reload.plan import Live, plan
from tests.supervisor.reload.conftest import Rig

SITE = sites.with_audio(sites.home())


def swap(rig: Rig, hello_hz: float, hold_hz: float) -> None:
    write_mount(
        rig.site,
        sites.audio_files(
            SITE, **{"hello.wav": wav_tone(0.5, hz=hello_hz), "hold.wav": wav_tone(0.5, hz=hold_hz)}
        ),
    )


def stored(rig: Rig) -> set[str]:
    return set(ConfigDir(rig.etc).audio_names())


async def test_start_writes_the_named_files(rig: Rig) -> None:
    """prepare() writes both files into the audio directory, and the dialplan names one."""
    swap(rig, 500, 700)
    rig.start()
    live = rig.applier.live
    assert live is not None
    assert stored(rig) == set(live.audio)
    assert len(live.audio) == 2
    hello = live.loaded.audio["hello.wav"]
    assert f"Playback(/etc/asterisk/audio/{hello.playable})" in rig.text("extensions.conf")
    assert (rig.etc / "audio" / hello.stored).read_bytes() == hello.data


async def test_a_changed_greeting_reloads_the_dialplan_and_drops_the_old_file(rig: Rig) -> None:
    """Swapping hello.wav writes its new copy, reloads pbx_config alone (the hold class did
    not change) and removes the old copy after the apply."""
    swap(rig, 500, 700)
    rig.start()
    before = stored(rig)
    swap(rig, 1500, 700)
    result = await rig.applier.apply()
    assert result.outcome == "applied", result.problems
    assert result.changed == ("extensions.conf",)
    assert rig.asterisk.reloads == ["pbx_config.so"]
    after = stored(rig)
    assert len(after - before) == 1
    assert len(before - after) == 1
    assert next(iter(after - before)).startswith("hello-")


async def test_a_changed_hold_file_reloads_music_on_hold(rig: Rig) -> None:
    """Swapping hold.wav changes the class's playlist: res_musiconhold is reloaded."""
    swap(rig, 500, 700)
    rig.start()
    swap(rig, 500, 1200)
    result = await rig.applier.apply()
    assert result.changed == ("musiconhold.conf",)
    assert rig.asterisk.reloads == ["res_musiconhold.so"]


async def test_a_bad_file_is_rejected_and_nothing_changes(rig: Rig) -> None:
    """A stereo hold.wav rejects the config with the file's path; the live files stay."""
    swap(rig, 500, 700)
    rig.start()
    before = stored(rig)
    write_mount(
        rig.site,
        sites.audio_files(
            SITE, **{"hello.wav": wav_tone(0.5), "hold.wav": wav_tone(0.5, channels=2)}
        ),
    )
    result = await rig.applier.apply()
    assert result.outcome == "rejected"
    assert any("hold.wav: is 16-bit PCM, stereo" in p for p in result.problems)
    assert stored(rig) == before
    assert rig.asterisk.reloads == []


def test_plan_writes_new_audio_first_and_removes_what_is_no_longer_named(rig: Rig) -> None:
    """The plan writes the names the config has and the directory lacks, and removes the
    ones the directory has and the config does not."""
    swap(rig, 500, 700)
    rig.start()
    config = rig.applier.live
    assert config is not None
    hello = config.loaded.audio["hello.wav"].stored
    steps = plan(Live(booted=None, files={}, audio=frozenset({hello, "old-0000.wav"})), config)
    assert steps.audio_writes == tuple(sorted(set(config.audio) - {hello}))
    assert steps.audio_removes == ("old-0000.wav",)


async def test_a_file_on_the_volume_directory_applies_like_the_configmap(rig: Rig) -> None:
    """hold.wav in a plain directory given as one more config directory (the persistent
    volume's site-audio/): read as audio, and a new copy there is applied at the next apply."""
    volume = rig.etc.parent / "site-audio"
    volume.mkdir()
    (volume / "hold.wav").write_bytes(wav_tone(0.5, hz=700))
    write_mount(rig.site, sites.audio_files(SITE, **{"hello.wav": wav_tone(0.5, hz=500)}))
    rig.applier.mounts = Mounts(config=(rig.site, volume), secrets=(rig.secrets,))
    rig.start()
    live = rig.applier.live
    assert live is not None
    first = live.loaded.audio["hold.wav"].stored
    (volume / ".hold.wav.part").write_bytes(wav_tone(0.5, hz=1200))
    (volume / ".hold.wav.part").rename(volume / "hold.wav")
    result = await rig.applier.apply()
    assert result.outcome == "applied", result.problems
    assert result.modules == ("res_musiconhold.so",)
    assert first not in stored(rig)
