"""The site's audio files in the generated config (docs/audio.md): where they are written, how
the dialplan and musiconhold.conf name them, and the music-on-hold classes made of them.

Files are written below Asterisk's config directory (`AUDIO_DIR`) under content-addressed names
(`audio.Audio.stored`): a changed file is a new name, so the dialplan or musiconhold.conf that
names it changes too and the reload plan reloads exactly the module that reads it; a call still
playing the old file keeps it until the apply has been verified, then it is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from supervisor.render.conf import GENERATED, Option, document, section
from supervisor.render.context import RenderContext
from supervisor.site.audio import REFERENCE_PREFIX, Audio
from supervisor.site.flowchecks import audio_references
from supervisor.site.model import Site

#: The directory below astetcdir holding the site's audio files (nothing else is written there).
AUDIO_DIR = "audio"
#: Seconds of silence between two hold beeps of the built-in default class.
HOLD_PAUSE_S = 4


def directory(context: RenderContext) -> str:
    """Asterisk's view of the audio directory."""
    return f"{context.directories.astetcdir.rstrip('/')}/{AUDIO_DIR}"


def player(files: Mapping[str, Audio], context: RenderContext) -> Callable[[str], str]:
    """A prompt as Playback and Background take it: an installed sound as it is, a site file
    (`audio:NAME`) as the absolute path of its stored copy, without extension (Asterisk picks
    the format from the extension it finds)."""
    where = directory(context)

    def play(sound: str) -> str:
        if not sound.startswith(REFERENCE_PREFIX):
            return sound
        return f"{where}/{files[sound.removeprefix(REFERENCE_PREFIX)].playable}"

    return play


def render_audio(site: Site, files: Mapping[str, Audio]) -> dict[str, bytes]:
    """{stored name: bytes} of every site file the site names (unnamed files are not written)."""
    used = {name for _path, name in audio_references(site)}
    return {files[name].stored: files[name].data for name in sorted(used)}


def render_musiconhold(site: Site, files: Mapping[str, Audio], context: RenderContext) -> str:
    """The hold classes: the site's (playlists of its files, in order), and the built-in
    default unless the site defines one: the image has no music (Debian's asterisk does not pull
    in asterisk-moh-opsound-*), so a held caller hears the image's own beep every few seconds."""
    play = player(files, context)
    classes = []
    if "default" not in site.music_on_hold:
        sounds = context.directories.astdatadir.rstrip("/") + "/sounds/en"
        beep: list[Option] = [
            ("mode", "playlist"),
            ("entry", f"{sounds}/beep"),
            ("entry", f"{sounds}/silence/{HOLD_PAUSE_S}"),
        ]
        classes.append(section("default", beep))
    for name, hold in sorted(site.music_on_hold.items()):
        # playlist, not files mode: each entry is one content-addressed file, so a changed file
        # changes this text and res_musiconhold is reloaded; a files-mode directory would not.
        entries: list[Option] = [("mode", "playlist")]
        entries += [("entry", play(file)) for file in hold.files]
        classes.append(section(name, entries))
    return document(GENERATED, [section("general", []), *classes])
