"""lab/flowlab.py without Asterisk: the generated sites' audio files load, and the comparison
maps a stored site file back to audio:NAME and catches a wrong name, length or greeting."""

from __future__ import annotations

import datetime
import random
from pathlib import Path

from lab import flowlab
from lab.flowlab import Observed, Prompts, agreement, observe
from supervisor.site.explain import Explanation, Outcome, Step

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)


def test_generated_sites_play_site_files_that_load_with_their_lengths() -> None:
    """Over 60 seeds some sites name audio:greetN.wav / audio:noteN.wav; each named file is in
    the site's audio, loads in its form, and lasts what the generator says."""
    forms: set[str] = set()
    for seed in range(60):
        generated = flowlab.generate(random.Random(seed), NOW, 0, "t")
        loaded = flowlab.load(generated.site, generated.audio)
        assert set(loaded.audio) == set(generated.audio) == set(generated.audio_seconds)
        for name, file in loaded.audio.items():
            assert file.seconds == generated.audio_seconds[name]
            forms.add(file.kind)
    assert forms == {"wav", "wav16", "ulaw"}


def _prompts() -> Prompts:
    return Prompts(Path("/nonexistent"), {"/etc/audio/greet0-00ff": "audio:greet0.wav"}, {})


def test_stored_site_file_maps_back_to_its_name() -> None:
    """A Playback of the stored copy's path is compared as audio:NAME; other prompts stay."""
    prompts = _prompts()
    assert prompts.name("/etc/audio/greet0-00ff") == "audio:greet0.wav"
    assert prompts.name("beep") == "beep"


def _announced(seconds: float) -> Explanation:
    sound = "audio:note0.wav"
    steps = (Step("announcement", "plays", sound=sound, sound_seconds=seconds),)
    return Explanation(steps, Outcome("hangup", "16"))


def _seen(playbacks: list[tuple[str, float]], greetings: list[tuple[str, float]]) -> Observed:
    return Observed([], None, "16", playbacks, greetings)


def length(sound: str) -> float:
    return {"audio:note0.wav": 1.5, "audio:greet0.wav": 3.0}[sound]


def test_site_file_played_for_its_length_agrees() -> None:
    """The stored copy played for the file's length, as explain said: no difference."""
    seen = _seen([("/etc/audio/note0-ab", 1.6)], [])
    named = seen.named(lambda p: {"/etc/audio/note0-ab": "audio:note0.wav"}.get(p, p))
    assert agreement(_announced(1.5), named, length) == []


def test_wrong_file_wrong_length_and_wrong_explain_figure_differ() -> None:
    """An unmapped path, a playback far from the file's length, and explain's length for a
    site file that is not the file's are each reported."""
    unmapped = agreement(_announced(1.5), _seen([("/etc/audio/other-cd", 1.5)], []), length)
    assert unmapped == ["played ['/etc/audio/other-cd'], predicted ['audio:note0.wav']"]
    short = agreement(_announced(1.5), _seen([("audio:note0.wav", 0.4)], []), length)
    assert short == ["audio:note0.wav played 0.40 s, its length is 1.50 s"]
    figure = agreement(_announced(2.5), _seen([("audio:note0.wav", 1.5)], []), length)
    assert figure == ["explain gives audio:note0.wav 2.5 s, it lasts 1.5 s"]


def test_greetings_compared_by_name_and_whole_length_when_the_caller_waits() -> None:
    """A menu try that times out must have played its greeting whole; a try the caller pressed
    in is compared by name only; a missing greeting is a difference."""
    menu = Step("menu", "menu", seconds=2, sound="audio:greet0.wav", sound_seconds=3.0)
    waited = Explanation((menu, Step("timeout", "t")), Outcome("hangup", "16"))
    pressed = Explanation((menu, Step("press", "p", press="5")), Outcome("hangup", "16"))
    assert agreement(waited, _seen([], [("audio:greet0.wav", 3.1)]), length) == []
    cut = agreement(waited, _seen([], [("audio:greet0.wav", 1.2)]), length)
    assert cut == ["greeting audio:greet0.wav played 1.20 s, its length is 3.00 s"]
    assert agreement(pressed, _seen([], [("audio:greet0.wav", 1.2)]), length) == []
    missing = agreement(waited, _seen([], []), length)
    assert missing == ["greetings [], predicted ['audio:greet0.wav']"]


def test_observe_reads_background_as_a_greeting() -> None:
    """Asterisk names the application BackGround: its step is a greeting, timed to the next."""

    def event(kind: str, stamp: float, **more: str) -> dict[str, str]:
        return {"Event": kind, "Uniqueid": "u1", "Timestamp": str(stamp), **more}

    events = [
        event("Newchannel", 0.0, CallerIDName="case1"),
        event("Newexten", 1.0, Application="BackGround", AppData="/etc/audio/greet0-00ff"),
        event("Newexten", 4.0, Application="WaitExten", AppData="2"),
        event("Newexten", 6.0, Application="Playback", AppData="beep"),
        event("Hangup", 6.5, Cause="16"),
    ]
    seen = observe(events, "case1")
    assert seen is not None
    assert seen.greetings == [("/etc/audio/greet0-00ff", 3.0)]
    assert seen.playbacks == [("beep", 0.5)]
    assert seen.named(_prompts().name).greetings == [("audio:greet0.wav", 3.0)]


def test_observe_follows_a_forward_through_its_local_channel() -> None:
    """desk rings 5 s, then the forward's Local channel rings kitchen 5 s and desk's box
    answers there: two rings in order and the box, as the caller's call."""

    def event(kind: str, stamp: float, unique: str, **more: str) -> dict[str, str]:
        base = {"Event": kind, "Uniqueid": unique, "Linkedid": "u1", "Timestamp": str(stamp)}
        return base | more

    events = [
        event("Newchannel", 0.0, "u1", CallerIDName="case2"),
        event("DialBegin", 1.0, "u1", DestChannel="PJSIP/desk-01", DestUniqueid="d1"),
        event("DialEnd", 6.0, "u1", DestChannel="PJSIP/desk-01", DestUniqueid="d1"),
        event("DialBegin", 6.1, "u1", DestChannel="Local/12@internal-02;1", DestUniqueid="l1"),
        event("DialBegin", 6.2, "l2", DestChannel="PJSIP/kitchen-03", DestUniqueid="k1"),
        event("DialEnd", 11.2, "l2", DestChannel="PJSIP/kitchen-03", DestUniqueid="k1"),
        event("Newexten", 11.3, "l2", Application="VoiceMail", AppData="11@default,u"),
        event("Hangup", 20.0, "l2", Cause="16"),
        event("DialEnd", 20.0, "u1", DestChannel="Local/12@internal-02;1", DestUniqueid="l1"),
        event("Hangup", 20.1, "u1", Cause="16"),
    ]
    seen = observe(events, "case2")
    assert seen is not None
    assert [(rung, round(seconds, 3)) for rung, seconds in seen.rings] == [
        (("desk",), 5.0),
        (("kitchen",), 5.0),
    ]
    assert seen.voicemail == "11"


def test_generated_phone_state_forwards_to_the_sites_extensions() -> None:
    """Over 40 seeds some sites have phones on do-not-disturb and forwards of every kind, each
    forward's target one of the site's extensions."""
    kinds: set[str] = set()
    dnd = 0
    for seed in range(40):
        generated = flowlab.generate(random.Random(seed), NOW, 0, "t")
        extensions = generated.site["dialplan"]["extensions"]
        dnd += len(generated.dnd)
        for forwards in generated.forwards.values():
            kinds |= set(forwards)
            assert set(forwards.values()) <= set(extensions)
    assert dnd > 0
    assert kinds == {"always", "busy", "noanswer"}


def test_covers_names_the_new_flows_a_prediction_goes_through() -> None:
    """A site greeting, a site prompt, a DND skip and a ring after a forward are each named;
    a ring before any forward is not a forward's."""
    steps = (
        Step("menu", "m", sound="audio:greet0.wav", sound_seconds=2.0),
        Step("press", "p", sound="audio:note0.wav", press="4", sound_seconds=1.0),
        Step("ring", "r", ("desk",), 5),
        Step("dnd", "kitchen has do-not-disturb on"),
    )
    plain = Explanation(steps, Outcome("hangup", "16"))
    assert flowlab.covers(plain) == {"site greeting", "site prompt", "do-not-disturb"}
    forwarded = Explanation(
        (*steps, Step("forward", "f"), Step("ring", "r", ("hall",), 5)), Outcome("hangup", "16")
    )
    assert "forward target rung" in flowlab.covers(forwarded)
