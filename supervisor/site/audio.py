"""Audio files from the site: greetings, announcements and music on hold (docs/audio.md).

A file is named in the site as `audio:NAME` (NAME: the file's name in a config directory, e.g.
`audio:welcome.wav`). `check` reads its bytes (already bounded by the mount reader) and returns
what Asterisk is given, or refuses it with a message that says how to convert it:

- WAV, 16-bit PCM (plain or WAVE_FORMAT_EXTENSIBLE), mono, 8 kHz -> `.wav`; 16 kHz -> `.wav16`;
- WAV, G.711 mu-law or A-law, mono, 8 kHz -> the raw samples as `.ulaw` / `.alaw`;
- `.ulaw` / `.alaw` files: raw G.711 samples at 8 kHz (every byte is a sample).

Nothing is converted (resampling or mixing down would need a signal library and a choice of
filter the site cannot see): anything else is refused with the `sox` command that makes it
playable. A WAV is rewritten with a canonical 44-byte header from the checked samples, so what
Asterisk reads never depends on a header we did not write. The reader trusts no size in a header:
every chunk must lie inside the bytes read, at most MAX_AUDIO_CHUNKS chunks are looked at, and the
duration comes from the bytes present, never from a header field.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
from dataclasses import dataclass, field
from typing import Literal

from supervisor.site.limits import MAX_AUDIO_BYTES, MAX_AUDIO_CHUNKS, MAX_AUDIO_SECONDS

#: How a file the site names is written in the config: `audio:` and the file's name.
REFERENCE_PREFIX = "audio:"
AUDIO_SUFFIXES = (".wav", ".ulaw", ".alaw")
#: A file name the site may use: lower case, digits, '_', '-', then a suffix Asterisk knows.
AUDIO_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.(?:wav|ulaw|alaw)")

Kind = Literal["wav", "wav16", "ulaw", "alaw"]
#: WAVE format tags (RFC 2361).
PCM, ALAW, MULAW, EXTENSIBLE = 0x0001, 0x0006, 0x0007, 0xFFFE
_TAG_NAMES = {0x0003: "IEEE float", 0x0002: "ADPCM", 0x0011: "IMA ADPCM", 0x0055: "MP3"}


def is_audio_name(name: str) -> bool:
    """Whether a config directory's file is read as audio (binary) rather than text."""
    return name.endswith(AUDIO_SUFFIXES)


def sox_hint(name: str) -> str:
    """The sox command that makes `name` playable (written beside it: sox cannot convert a
    file in place)."""
    stem = name.rsplit(".", 1)[0]
    return (
        f"convert it: sox {name} -r 8000 -c 1 -b 16 -e signed-integer {stem}-8k.wav, "
        f"then ship {stem}-8k.wav as {stem}.wav"
    )


class AudioRefused(ValueError):
    """A file Asterisk cannot play as it is; the message says why and how to convert it."""


@dataclass(frozen=True)
class Audio:
    """A checked file: `data` is what Asterisk reads (a canonical WAV or raw G.711), `kind` its
    Asterisk format (the file's extension), `seconds` its length."""

    name: str
    kind: Kind
    data: bytes = field(repr=False)
    seconds: float

    @functools.cached_property
    def stored(self) -> str:
        """Its file name in the generated config: content-addressed, so a changed file is a
        new name (a live reload picks it up; a call playing the old one keeps it)."""
        digest = hashlib.sha256(self.data).hexdigest()[:16]
        return f"{self.name.rsplit('.', 1)[0]}-{digest}.{self.kind}"

    @property
    def playable(self) -> str:
        """`stored` without the extension: what Playback and a playlist entry name."""
        return self.stored.rsplit(".", 1)[0]


def check(name: str, data: bytes) -> Audio:
    """The file Asterisk is given for `name` holding `data`; AudioRefused if it cannot be."""
    if not AUDIO_NAME_RE.fullmatch(name):
        raise AudioRefused(
            "not an audio file name (lower-case letters, digits, '_', '-', then .wav, .ulaw "
            "or .alaw)"
        )
    if len(data) > MAX_AUDIO_BYTES:
        raise AudioRefused(f"is larger than the limit of {MAX_AUDIO_BYTES} bytes")
    if name.endswith(".wav"):
        kind, samples, rate, width = _wav(name, data)
    else:
        kind, samples, rate, width = ("ulaw" if name.endswith(".ulaw") else "alaw"), data, 8000, 1
    if not samples:
        raise AudioRefused("holds no audio")
    seconds = len(samples) / (rate * width)
    if seconds > MAX_AUDIO_SECONDS:
        raise AudioRefused(
            f"lasts {seconds:.1f} s, longer than the limit of {MAX_AUDIO_SECONDS:.0f} s "
            "(split a long hold loop into several files of the class)"
        )
    out = wav_file(samples, rate=rate) if kind in ("wav", "wav16") else samples
    return Audio(name=name, kind=kind, data=out, seconds=round(seconds, 3))


def wav_file(samples: bytes, *, rate: int, tag: int = PCM, width: int = 2) -> bytes:
    """Mono `samples` in a canonical 44-byte-header WAV (format `tag`, `width` bytes each)."""
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(samples),
        b"WAVE",
        b"fmt ",
        16,
        tag,
        1,
        rate,
        rate * width,
        width,
        8 * width,
        b"data",
        len(samples),
    )
    return header + samples


@dataclass(frozen=True)
class _Format:
    tag: int
    channels: int
    rate: int
    bits: int
    block_align: int


def _chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, start, size) of each chunk up to `data`, every one inside the bytes read."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioRefused("is not a WAV file (no RIFF/WAVE header)")
    found: list[tuple[bytes, int, int]] = []
    offset = 12
    while len(found) < MAX_AUDIO_CHUNKS:
        if offset + 8 > len(data):
            break
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        start = offset + 8
        if start + size > len(data):
            shown = chunk_id.decode("latin-1").strip() or "?"
            raise AudioRefused(
                f"its header says the {shown!r} chunk holds {size} bytes, but the file has "
                f"{len(data) - start} left (cut short, or a header that lies)"
            )
        found.append((chunk_id, start, size))
        if chunk_id == b"data":
            return found
        offset = start + size + (size & 1)  # chunks are padded to an even length
    if len(found) >= MAX_AUDIO_CHUNKS:
        raise AudioRefused(f"has more than {MAX_AUDIO_CHUNKS} chunks before its audio")
    return found


def _format(data: bytes, start: int, size: int) -> _Format:
    if size < 16:
        raise AudioRefused(f"its 'fmt ' chunk is {size} bytes, shorter than 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", data, start)
    if tag == EXTENSIBLE:
        if size < 40:
            raise AudioRefused("its extensible 'fmt ' chunk is shorter than 40 bytes")
        (tag,) = struct.unpack_from("<H", data, start + 24)  # the sub-format GUID's first field
    return _Format(tag, channels, rate, bits, block_align)


def _describe(fmt: _Format) -> str:
    if fmt.tag == PCM:
        coding = f"{fmt.bits}-bit PCM"
    elif fmt.tag in (MULAW, ALAW):
        coding = "mu-law" if fmt.tag == MULAW else "A-law"
    else:
        coding = _TAG_NAMES.get(fmt.tag, f"format {fmt.tag:#06x}")
    channels = {1: "mono", 2: "stereo"}.get(fmt.channels, f"{fmt.channels} channels")
    return f"{coding}, {channels}, {fmt.rate} Hz"


def _wav(name: str, data: bytes) -> tuple[Kind, bytes, int, int]:
    """(kind, sample bytes, sample rate, bytes per sample) of a WAV Asterisk can play."""
    chunks = _chunks(data)
    fmt: _Format | None = None
    samples: bytes | None = None
    for chunk_id, start, size in chunks:
        if chunk_id == b"fmt " and fmt is None:
            fmt = _format(data, start, size)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioRefused("its audio comes before its 'fmt ' chunk")
            samples = data[start : start + size]
    if fmt is None:
        raise AudioRefused("has no 'fmt ' chunk")
    if samples is None:
        raise AudioRefused("has no 'data' chunk (no audio)")
    kind: Kind | None = None
    width = 2
    if fmt.tag == PCM and fmt.bits == 16 and fmt.channels == 1 and fmt.rate in (8000, 16000):
        kind = "wav" if fmt.rate == 8000 else "wav16"
    elif fmt.tag in (MULAW, ALAW) and fmt.bits == 8 and fmt.channels == 1 and fmt.rate == 8000:
        kind, width = ("ulaw" if fmt.tag == MULAW else "alaw"), 1
    if kind is None:
        raise AudioRefused(
            f"is {_describe(fmt)}; Asterisk plays 16-bit PCM mono at 8 or 16 kHz, or G.711 "
            f"mono at 8 kHz: {sox_hint(name)}"
        )
    if fmt.block_align != width:
        raise AudioRefused(
            f"its header says {fmt.block_align} bytes per sample, not {width} "
            f"({_describe(fmt)}): {sox_hint(name)}"
        )
    if len(samples) % width:
        raise AudioRefused(f"its audio is {len(samples)} bytes, not whole 16-bit samples")
    return kind, samples, fmt.rate, width
