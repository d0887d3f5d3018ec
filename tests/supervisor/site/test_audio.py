"""The site's audio files: what Asterisk gets for each accepted form, and the located refusals
(wrong formats with the sox command, hostile headers, limits)."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from lab.audio import wav_tone as tone
from supervisor.site import limits
from supervisor.site.audio import AudioRefused, check


def riff(*chunks: tuple[bytes, bytes], declared: dict[bytes, int] | None = None) -> bytes:
    """A RIFF/WAVE file of these chunks; `declared` overrides a chunk's size field."""
    body = b"WAVE"
    for chunk_id, data in chunks:
        size = (declared or {}).get(chunk_id, len(data))
        body += chunk_id + struct.pack("<I", size) + data + (b"\0" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt(tag: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


def test_pcm_8k_and_16k_become_wav_and_wav16_with_their_length() -> None:
    """16-bit mono PCM at 8 kHz is a .wav, at 16 kHz a .wav16; the length comes from the
    samples; the data is a canonical WAV holding the same samples."""
    narrow = check("hello.wav", tone(1.5))
    wide = check("hello.wav", tone(0.25, rate=16000))
    assert (narrow.kind, narrow.seconds) == ("wav", 1.5)
    assert (wide.kind, wide.seconds) == ("wav16", 0.25)
    with wave.open(io.BytesIO(narrow.data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() == 12000
    assert narrow.stored.startswith("hello-")
    assert narrow.stored.endswith(".wav")
    assert narrow.playable == narrow.stored.removesuffix(".wav")


def test_a_changed_file_gets_a_new_stored_name() -> None:
    """The stored name is content-addressed: other samples, other name; same samples, same."""
    first = check("hold.wav", tone(0.5, hz=440))
    assert check("hold.wav", tone(0.5, hz=440)).stored == first.stored
    assert check("hold.wav", tone(0.5, hz=1000)).stored != first.stored


def test_extra_chunks_and_extensible_pcm_are_accepted_and_dropped() -> None:
    """A LIST chunk before the audio and WAVE_FORMAT_EXTENSIBLE PCM are read; the file Asterisk
    gets has a plain 44-byte header (its format_wav refuses extensible)."""
    samples = b"\x01\x00" * 800
    ext = fmt(tag=0xFFFE) + struct.pack("<HHI", 22, 16, 4) + struct.pack("<H", 1) + b"\0" * 14
    data = riff((b"fmt ", ext), (b"LIST", b"INFOjunk!"), (b"data", samples))
    checked = check("x.wav", data)
    assert checked.kind == "wav"
    assert checked.seconds == 0.1
    assert checked.data[20:22] == b"\x01\x00"
    assert len(checked.data) == 44 + len(samples)


def test_g711_wav_becomes_raw_and_raw_files_are_taken() -> None:
    """A mu-law WAV gives its raw samples as .ulaw; .ulaw/.alaw files are raw 8 kHz samples."""
    samples = bytes(range(256)) * 10
    checked = check("m.wav", riff((b"fmt ", fmt(tag=7, bits=8)), (b"data", samples)))
    assert (checked.kind, checked.data, checked.seconds) == ("ulaw", samples, 0.32)
    raw = check("a.alaw", b"\xd5" * 4000)
    assert (raw.kind, raw.seconds, raw.stored.endswith(".alaw")) == ("alaw", 0.5, True)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (tone(0.1, channels=2), "16-bit PCM, stereo, 8000 Hz"),
        (tone(0.1, rate=44100), "16-bit PCM, mono, 44100 Hz"),
        (tone(0.1, width=1), "8-bit PCM, mono, 8000 Hz"),
        (riff((b"fmt ", fmt(tag=3, bits=32)), (b"data", b"\0" * 8)), "IEEE float"),
        (riff((b"fmt ", fmt(tag=0x55)), (b"data", b"\0" * 8)), "MP3"),
    ],
)
def test_other_forms_are_refused_with_the_sox_command(data: bytes, said: str) -> None:
    """Stereo, other rates, 8-bit, float, MP3: refused, saying what the file is and the sox
    command that converts it (nothing is resampled here)."""
    with pytest.raises(AudioRefused) as caught:
        check("music.wav", data)
    assert said in str(caught.value)
    assert (
        "sox music.wav -r 8000 -c 1 -b 16 -e signed-integer music-8k.wav, "
        "then ship music-8k.wav as music.wav" in str(caught.value)
    )


@pytest.mark.parametrize(
    ("data", "said"),
    [
        # The data chunk claims 1 GB; the file holds 100 bytes.
        (riff((b"fmt ", fmt()), (b"data", b"\0" * 100), declared={b"data": 10**9}), "holds"),
        (riff((b"fmt ", fmt()), (b"data", b"\0" * 100), declared={b"fmt ": 2**32 - 1}), "fmt"),
        (riff((b"fmt ", fmt()[:12]), (b"data", b"\0" * 10)), "shorter than 16"),
        (riff((b"data", b"\0" * 10), (b"fmt ", fmt())), "before its 'fmt '"),
        (riff((b"fmt ", fmt())), "no 'data' chunk"),
        (riff((b"LIST", b"ab")), "no 'fmt ' chunk"),
        (riff((b"fmt ", fmt()), (b"data", b"\0" * 7)), "not whole 16-bit samples"),
        (riff((b"fmt ", fmt()), (b"data", b"")), "holds no audio"),
        (riff(*[(b"junk", b"")] * 40, (b"data", b"")), "more than 32 chunks"),
        (b"ID3\x03" + b"\0" * 60, "not a WAV file"),
        (b"RIFF", "not a WAV file"),
        (
            riff(
                (b"fmt ", struct.pack("<HHIIHH", 1, 1, 8000, 16000, 4, 16)),
                (b"data", b"\0" * 8),
            ),
            "4 bytes per sample",
        ),
    ],
)
def test_hostile_and_broken_headers_are_refused(data: bytes, said: str) -> None:
    """Sizes that point past the end, missing or misplaced chunks, endless chunk lists and
    inconsistent sample sizes are refused with what is wrong (no size is trusted)."""
    with pytest.raises(AudioRefused) as caught:
        check("bad.wav", data)
    assert said in str(caught.value)


def test_length_and_size_limits_and_names() -> None:
    """Longer than MAX_AUDIO_SECONDS, larger than MAX_AUDIO_BYTES, or a name outside the
    grammar: refused."""
    too_long = riff((b"fmt ", fmt(tag=7, bits=8)), (b"data", b"\xff" * (8000 * 301)))
    with pytest.raises(AudioRefused, match="longer than the limit of 300 s"):
        check("long.wav", too_long)
    with pytest.raises(AudioRefused, match="larger than the limit"):
        check("big.ulaw", b"\xff" * (limits.MAX_AUDIO_BYTES + 1))
    with pytest.raises(AudioRefused, match="not an audio file name"):
        check("Hello World.wav", tone(0.1))
