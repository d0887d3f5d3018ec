"""explain knows how long a site audio file plays: the announcement's and the greeting's
lengths come from the checked files."""

from __future__ import annotations

import datetime

from supervisor.site.explain import explain
from tests.supervisor.site.audiosite import load_audio

AT = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)  # a Monday, office open


def test_announcement_and_greeting_lengths_from_the_files() -> None:
    """A call to an unlisted number plays closed.wav (2.5 s); the office DID's menu plays
    welcome.wav (1.0 s); without the lengths the steps carry none."""
    loaded = load_audio()
    seconds = {name: file.seconds for name, file in loaded.audio.items()}
    closed = explain(loaded.site, "+4930999", trunk="provider", at=AT, audio_seconds=seconds)
    step = next(s for s in closed.steps if s.kind == "announcement")
    assert step.sound_seconds == 2.5
    assert "plays audio:closed.wav (2.5 s)" in step.text
    menu = explain(loaded.site, "+4930123456", at=AT, presses=["1"], audio_seconds=seconds)
    greeting = next(s for s in menu.steps if s.kind == "menu")
    assert greeting.sound_seconds == 1.0
    assert "plays audio:welcome.wav (1.0 s)" in greeting.text
    bare = explain(loaded.site, "+4930999", trunk="provider", at=AT)
    assert next(s for s in bare.steps if s.kind == "announcement").sound_seconds == 0.0
