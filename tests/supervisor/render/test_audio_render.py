"""Rendering the site's audio files: stored content-addressed, named by absolute path without
extension in the dialplan and the hold class, the phone's hold class suggested in pjsip.conf."""

from __future__ import annotations

from supervisor.render import Directories, RenderContext, render
from supervisor.render.audio import render_audio
from tests.supervisor.render.test_flows_render import context
from tests.supervisor.site.audiosite import audio_site, load_audio

CONTEXT = RenderContext(
    ami_secret="test-secret-0123",
    directories=Directories(astetcdir="/etc/asterisk"),
)


def test_prompts_play_the_stored_files() -> None:
    """The announcement and the greeting play /etc/asterisk/audio/NAME-HASH (no extension)."""
    loaded = load_audio()
    text = render(loaded, CONTEXT)["extensions.conf"]
    closed = loaded.audio["closed.wav"].playable
    welcome = loaded.audio["welcome.wav"].playable
    assert f"same => n,Playback(/etc/asterisk/audio/{closed})" in context(
        text, "announce-closed-message"
    )
    assert f"same => n(again),Background(/etc/asterisk/audio/{welcome})" in context(
        text, "menu-main"
    )


def test_hold_class_is_a_playlist_and_the_phone_suggests_it() -> None:
    """The class lists its files in order; the built-in default stays; kitchen suggests it."""
    loaded = load_audio()
    files = render(loaded, CONTEXT)
    hold, welcome = loaded.audio["hold.wav"].playable, loaded.audio["welcome.wav"].playable
    moh = files["musiconhold.conf"]
    assert (
        "[office]\nmode = playlist\n"
        f"entry = /etc/asterisk/audio/{hold}\nentry = /etc/asterisk/audio/{welcome}\n"
    ) in moh
    assert "[default]\nmode = playlist\n" in moh
    endpoint = files["pjsip.conf"].split("[kitchen]\ntype = endpoint\n")[1].split("\n\n")[0]
    assert "moh_suggest = office" in endpoint
    desk = files["pjsip.conf"].split("[desk]\ntype = endpoint\n")[1].split("\n\n")[0]
    assert "moh_suggest" not in desk


def test_a_site_default_class_replaces_the_beep() -> None:
    """A class named default is the site's; the built-in beep playlist is not rendered."""
    site = audio_site()
    site["music_on_hold"]["default"] = {"files": ["audio:hold.wav"]}
    moh = render(load_audio(site), CONTEXT)["musiconhold.conf"]
    assert moh.count("[default]") == 1
    assert "beep" not in moh


def test_only_named_files_are_written_by_content() -> None:
    """render_audio gives the stored name -> the checked bytes of each file the site names."""
    site = audio_site()
    site["music_on_hold"] = {}
    del site["endpoints"]["kitchen"]["music_on_hold"]
    loaded = load_audio(site)
    written = render_audio(loaded.site, loaded.audio)
    assert written == {
        loaded.audio[n].stored: loaded.audio[n].data for n in ("closed.wav", "welcome.wav")
    }
