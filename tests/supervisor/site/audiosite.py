"""A flow site whose announcement, menu greeting and hold class are the site's audio files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lab.audio import wav_tone as tone
from supervisor.site.load import LoadedSite, load_site
from supervisor.site.mounts import Mount
from tests.supervisor.site.flowsite import SECRETS, flow_site
from tests.supervisor.site.sites import secret_mount


def audio_site() -> dict[str, Any]:
    site = flow_site()
    site["dialplan"]["announcements"]["closed-message"]["sound"] = "audio:closed.wav"
    site["dialplan"]["menus"]["main"]["greeting"] = "audio:welcome.wav"
    site["music_on_hold"] = {"office": {"files": ["audio:hold.wav", "audio:welcome.wav"]}}
    site["endpoints"]["kitchen"]["music_on_hold"] = "office"
    return site


def audio_files() -> dict[str, bytes]:
    return {
        "closed.wav": tone(2.5),
        "welcome.wav": tone(1.0, rate=16000),
        "hold.wav": tone(3.0, hz=600),
    }


def load_audio(
    site: dict[str, Any] | None = None, files: dict[str, bytes] | None = None
) -> LoadedSite:
    """The site, its YAML and audio files in one config mount."""
    text = yaml.safe_dump(site or audio_site(), sort_keys=False).encode()
    mount = Mount(path=Path("/config"), files={"site.yaml": text, **(files or audio_files())})
    return load_site([mount], [secret_mount(SECRETS)])
