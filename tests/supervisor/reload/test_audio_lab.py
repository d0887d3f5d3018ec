"""Site audio files on a real Asterisk 22 (the lab), configured by the real loader, renderer and
applier from a kubelet-style ConfigMap mount holding the WAVs as binaryData:

- a provider call to the announcement's DID hears the site's hello.wav (the tone in the RTP the
  caller receives), for as long as the file lasts (what explain predicts);
- a phone holding a call plays the site's hold class to the other phone;
- after a ConfigMap swap of either file the new one plays, with only the planned module reloaded
  and the old copy gone.

One Asterisk for the module; the tones differ in pitch so the RTP tells which file played.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import netns, sipp, sites
from lab.asterisk import wait_until
from lab.audio import PAYLOAD_PCMU, Heard, dtmf_pcap, heard, ulaw_wav_tone, wav_tone
from lab.capture import Capture, Datagram
from lab.kubelet import write_mount
from lab.paths import SCENARIOS
from lab.phonekeys import phone
from lab.phones import RINGER_MEDIA_PORT, Phones
from lab.reloadpbx import LabPbx
from supervisor.site.explain import explain

pytestmark = pytest.mark.lab

SITE = sites.with_audio(sites.home("hall"), hold_endpoint="hall")
PASSWORD = sites.secrets()["desk-password"]  # desk's, shared by hall (sites.home)
HELLO_S = 2.0
#: Media ports of the provider's callers (one per call: the capture tells calls apart by it).
MEDIA_PORTS = itertools.count(16100, 2)
HALL_MEDIA_PORT = 16090
RTP_HEADER = 12  # Asterisk sends no CSRC and no extension
#: How far a measured pitch may be from the tone's (zero crossings over 20 ms packets).
PITCH_TOLERANCE_HZ = 80


def publish(
    pbx: LabPbx, hello_hz: int, hold_hz: int, *, wide: bool = False, g711: bool = False
) -> None:
    """hello.wav (16 kHz with `wide`: played as .wav16) and hold.wav (G.711 mu-law with
    `g711`: played as raw .ulaw) in the ConfigMap."""
    hello = wav_tone(HELLO_S, hz=hello_hz, rate=16000 if wide else 8000)
    hold = ulaw_wav_tone(3.0, hz=hold_hz) if g711 else wav_tone(3.0, hz=hold_hz)
    write_mount(pbx.site, sites.audio_files(SITE, **{"hello.wav": hello, "hold.wav": hold}))


@pytest.fixture(scope="module")
def pbx(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabPbx]:
    the_pbx = LabPbx(rootfs, tmp_path_factory.mktemp("mounts"))
    try:
        publish(the_pbx, 500, 700)
        the_pbx.start()
        phones = Phones(the_pbx.lab, the_pbx.run)
        the_pbx.stoppers.append(phones.stop)
        phones.start_ringer()
        phones.register({"desk": PASSWORD})
        yield the_pbx
    finally:
        the_pbx.stop()


def events(pbx: LabPbx, name: str, since: int) -> list[dict[str, str]]:
    assert pbx.ami is not None
    return [e for e in pbx.ami.events[since:] if e.get("Event") == name]


def listened(datagrams: list[Datagram], port: int) -> Heard | None:
    """What the pod's PCMU RTP to `port` carried."""
    payloads = [
        d.payload[RTP_HEADER:]
        for d in datagrams
        if d.source == netns.POD_V6
        and d.dport == port
        and len(d.payload) > RTP_HEADER
        and d.payload[1] & 0x7F == PAYLOAD_PCMU
    ]
    return heard(payloads)


def announcement_call(pbx: LabPbx) -> Heard | None:
    """A provider call to the announcement's DID: what the caller heard. Asterisk hangs up
    after the announcement (its BYE does not reach this sipp, whose Contact is an IPv6
    address without brackets: sipp's exit status is not the test's)."""
    assert pbx.ami is not None
    port = next(MEDIA_PORTS)
    pcap = pbx.run.path("scenarios") / "audio-silent.pcap"
    pcap.parent.mkdir(exist_ok=True)
    pcap.write_bytes(dtmf_pcap([(0.1, "")]))
    text = (SCENARIOS / "uac_flow.xml").read_text()
    values = {"FROM_NAME": f"audio{port}", "FROM_USER": "0305550100"}
    values |= {"PCAP": pbx.run.inside(pcap), "HOLD_MS": str(int(HELLO_S * 1000) + 2000)}
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    scenario = pbx.run.path("scenarios") / f"audio-{port}.xml"
    scenario.write_text(text)
    since = len(pbx.ami.events)
    capture = Capture(pbx.lab.router).start()
    try:
        args = [f"[{netns.POD_V6}]:5060", "-sf", pbx.run.inside(scenario), "-s", sites.AUDIO_DID]
        args += ["-i", netns.PROVIDER_V6, "-p", "0", "-mp", str(port), "-m", "1"]
        args += ["-timeout", "20s"]
        caller = sipp.Sipp(pbx.lab, pbx.run, "provider", args, name=f"audio-{port}").start()
        pbx.stoppers.append(caller.stop)
        wait_until(lambda: events(pbx, "Hangup", since), 15, what="the announcement's hang-up")
        caller.wait(20)
    finally:
        datagrams = capture.stop()
    hangup = events(pbx, "Hangup", since)[0]
    assert hangup["Context"] == "announce-hello", hangup
    return listened(datagrams, port)


def hold_call(pbx: LabPbx) -> Heard | None:
    """Hall calls desk (11), is silent 0.5 s, holds it 3 s, takes it back and talks (a 440 Hz
    tone) 0.5 s: what desk heard. The supervisor's AMI user does not get MusicOnHoldStart, so
    the tone tells: the class plays six times as many packets as hall's talk, so the median
    pitch is the class's."""
    capture = Capture(pbx.lab.router).start()
    try:
        caller = phone(
            pbx.lab,
            pbx.run,
            "phone_hold.xml",
            "hall",
            PASSWORD,
            "11",
            values={"TALK_MS": "500", "HOLD_MS": "3000"},
            media_port=HALL_MEDIA_PORT,
        )
        pbx.stoppers.append(caller.stop)
        assert caller.wait(20) == 0, caller.output()[-2000:]
    finally:
        datagrams = capture.stop()
    return listened(datagrams, RINGER_MEDIA_PORT)


async def test_announcement_plays_the_site_file_and_a_swap_plays_the_new_one(
    pbx: LabPbx,
) -> None:
    """The caller hears hello.wav's 500 Hz for its 2 s (explain's length, within 0.3 s, counted
    in loud RTP packets); after a ConfigMap swap to a 1500 Hz hello.wav at 16 kHz (pbx_config
    reloaded alone, the old copy removed) the next caller hears 1500 Hz (.wav16 resampled)."""
    publish(pbx, 500, 700)
    assert (await pbx.applier().apply()).outcome in ("applied", "unchanged")
    live = pbx.applier().mounts.snapshot()
    loaded = pbx.build(live.config, live.secrets).loaded
    now = datetime.datetime.now(datetime.UTC)
    seconds = {name: file.seconds for name, file in loaded.audio.items()}
    predicted = explain(loaded.site, sites.AUDIO_DID, at=now, audio_seconds=seconds)
    announced = next(s for s in predicted.steps if s.kind == "announcement")
    assert announced.sound_seconds == HELLO_S

    first = announcement_call(pbx)
    assert first is not None
    assert abs(first.hz - 500) < PITCH_TOLERANCE_HZ, first
    assert abs(first.seconds - announced.sound_seconds) < 0.3, first

    old = set((pbx.etc / "audio").iterdir())
    publish(pbx, 1500, 700, wide=True)
    result = await pbx.applier().apply()
    assert result.outcome == "applied", result.problems
    assert result.modules == ("pbx_config.so",)
    assert len(old - set((pbx.etc / "audio").iterdir())) == 1  # the old copy, removed
    second = announcement_call(pbx)
    assert second is not None
    assert abs(second.hz - 1500) < PITCH_TOLERANCE_HZ, second
    assert abs(second.seconds - HELLO_S) < 0.3, second
    assert pbx.asterisk.problems() == []


async def test_hold_plays_the_site_class_and_a_swap_plays_the_new_file(pbx: LabPbx) -> None:
    """Hall (music_on_hold: office) holds a call to desk: desk hears hold.wav's 700 Hz (class
    office; the default class is a beep); after a swap to a 1200 Hz mu-law hold.wav
    (res_musiconhold reloaded alone) the next hold plays 1200 Hz (raw .ulaw)."""
    publish(pbx, 1500, 700, wide=True)
    assert (await pbx.applier().apply()).outcome in ("applied", "unchanged")
    held = hold_call(pbx)
    assert held is not None
    assert abs(held.hz - 700) < PITCH_TOLERANCE_HZ, held

    publish(pbx, 1500, 1200, wide=True, g711=True)
    result = await pbx.applier().apply()
    assert result.outcome == "applied", result.problems
    assert result.modules == ("res_musiconhold.so",)
    held = hold_call(pbx)
    assert held is not None
    assert abs(held.hz - 1200) < PITCH_TOLERANCE_HZ, held
