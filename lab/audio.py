"""Audio for lab calls: a G.711 mu-law (PCMU) tone as RTP packets in a pcap file, written here in
code so that the repo carries no binary blobs.

sipp's `play_pcap_audio` sends each captured UDP payload with the capture's timing, rewriting only
ports and addresses: one RTP packet of 160 samples (20 ms at 8 kHz) every 20 ms, sequence numbers
and timestamps consecutive, is exactly what a phone sends for G.711 without silence suppression.

    path = write_tone_pcap(run.path("audio") / "tone.pcap", seconds=10)
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from supervisor.site.audio import MULAW, wav_file

RATE = 8000
PTIME_MS = 20
SAMPLES_PER_PACKET = RATE * PTIME_MS // 1000
PACKETS_PER_SECOND = 1000 // PTIME_MS
PAYLOAD_PCMU = 0
DEFAULT_SSRC = 0x5EED0001  # every lab tone's RTP source (an RTCP responder answers for it)
#: The pcap's own addresses and ports are placeholders: sipp replaces them with the call's.
_SRC, _DST = bytes([198, 51, 100, 1]), bytes([198, 51, 100, 2])
_SPORT, _DPORT = 6000, 6000

_BIAS = 0x21
_CLIP = 8159
_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def mulaw(sample: int) -> int:
    """One 16-bit linear sample -> one G.711 mu-law byte (the reference 14-bit encoder)."""
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, _CLIP) + _BIAS
    segment = next((i for i, end in enumerate(_SEGMENT_ENDS) if value <= end), 8)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def tone_payloads(seconds: float, hz: int = 440, amplitude: int = 8000) -> list[bytes]:
    """PCMU payloads of a sine tone, one per 20 ms. An integer frequency repeats every second,
    so one second is encoded and reused."""
    second = bytes(
        mulaw(round(amplitude * math.sin(2 * math.pi * hz * i / RATE))) for i in range(RATE)
    )
    count = round(seconds * PACKETS_PER_SECOND)
    return [second[(n * SAMPLES_PER_PACKET) % RATE :][:SAMPLES_PER_PACKET] for n in range(count)]


def rtp_packet(seq: int, timestamp: int, ssrc: int, payload: bytes, *, marker: bool) -> bytes:
    header = struct.pack(
        "!BBHII",
        0x80,  # version 2, no padding, no extension, no CSRC
        (0x80 if marker else 0) | PAYLOAD_PCMU,
        seq & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        ssrc,
    )
    return header + payload


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(rtp: bytes) -> bytes:
    """Ethernet + IPv4 + UDP around one RTP packet."""
    udp_len = 8 + len(rtp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0, _SRC, _DST)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", _SPORT, _DPORT, udp_len, 0)
    pseudo = _SRC + _DST + struct.pack("!BBH", 0, 17, udp_len)
    udp = udp[:6] + struct.pack("!H", _checksum(pseudo + udp + rtp) or 0xFFFF)
    ether = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ether + ip + udp + rtp


def tone_pcap(seconds: float, *, ssrc: int = DEFAULT_SSRC, hz: int = 440) -> bytes:
    """A pcap (Ethernet, microsecond timestamps) of `seconds` of PCMU tone as RTP."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for n, payload in enumerate(tone_payloads(seconds, hz)):
        frame = _frame(rtp_packet(n, n * SAMPLES_PER_PACKET, ssrc, payload, marker=n == 0))
        usec = n * PTIME_MS * 1000
        out.append(
            struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
        )
        out.append(frame)
    return b"".join(out)


@functools.cache
def tone_pcap_cached(seconds: float) -> bytes:
    """The default tone, built once per process (about 0.1 s per 10 s of audio)."""
    return tone_pcap(seconds)


def write_tone_pcap(path: Path, seconds: float, *, ssrc: int = DEFAULT_SSRC, hz: int = 440) -> Path:
    """Write the tone pcap (atomically: sipps may be reading an older one) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = tone_pcap(seconds, ssrc=ssrc, hz=hz)
    if path.exists() and path.read_bytes() == data:
        return path
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


PAYLOAD_EVENT = 101  # the telephone-event payload type the lab's DTMF scenarios offer
DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def dtmf_pcap(
    plan: list[tuple[float, str]], *, press_ms: int = 160, gap_ms: int = 240, lead: bool = False
) -> bytes:
    """RFC 4733 telephone-events as an RTP pcap: for each (pause in seconds, digits) of `plan`,
    silence then the digits, each held `press_ms` with `gap_ms` between them.

    sipp times a pcap from its first packet, so without `lead` the first pause is not kept (the
    first press goes out when the playing starts); `lead` puts one PCMU silence packet at time 0,
    so every press goes out at its planned moment.

    One stream for the whole plan: each press has its own RTP timestamp and sequence numbers, so
    a digit repeated (a PIN like 1111, a menu key after a PIN containing it) is a new event, which
    replaying one fixed per-digit capture (sipp's dtmf_2833_N.pcap) is not: Asterisk drops it as
    a duplicate of the event it already saw (measured)."""
    frames: list[tuple[int, bytes]] = []  # (time in us, RTP packet)
    ssrc = 0x5EED0101
    seq = 0
    if lead:
        silence = b"\xff" * SAMPLES_PER_PACKET  # mu-law zero
        frames.append((0, rtp_packet(seq, 0, ssrc, silence, marker=True)))
        seq += 1
    now_ms = 0
    for pause, digits in plan:
        now_ms += int(pause * 1000)
        for digit in digits:
            event = DTMF_EVENTS[digit]
            stamp = now_ms * RATE // 1000
            steps = max(1, press_ms // PTIME_MS)
            for step in range(steps):
                head = struct.pack(
                    "!BBHII", 0x80, (0x80 if step == 0 else 0) | PAYLOAD_EVENT, seq, stamp, ssrc
                )
                body = struct.pack("!BBH", event, 10, (step + 1) * SAMPLES_PER_PACKET)
                frames.append(((now_ms + step * PTIME_MS) * 1000, head + body))
                seq += 1
            end_ms = now_ms + steps * PTIME_MS
            head = struct.pack("!BBHII", 0x80, PAYLOAD_EVENT, seq, stamp, ssrc)
            body = struct.pack("!BBH", event, 0x80 | 10, steps * SAMPLES_PER_PACKET)
            seq += 1
            frames += [(end_ms * 1000, head + body)] * 3  # the end, sent three times (RFC 4733)
            now_ms = end_ms + gap_ms
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for usec, packet in frames:
        frame = _frame(packet)
        out.append(
            struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
        )
        out.append(frame)
    return b"".join(out)


def plan_seconds(plan: list[tuple[float, str]], *, press_ms: int = 160, gap_ms: int = 240) -> float:
    """How long `dtmf_pcap(plan)` plays."""
    presses = sum(len(digits) for _, digits in plan)
    return sum(pause for pause, _ in plan) + presses * (press_ms + PTIME_MS + gap_ms) / 1000


def wav_tone(
    seconds: float,
    *,
    hz: float = 440.0,
    rate: int = 8000,
    channels: int = 1,
    width: int = 2,
) -> bytes:
    """A sine tone at half scale as a PCM WAV file written by the stdlib `wave` module (a site
    audio file; stereo and 8-bit variants for the refusal tests)."""
    frames = int(seconds * rate)
    top = 2 ** (8 * width - 1) - 1
    samples = bytearray()
    for i in range(frames):
        value = int(top * 0.5 * math.sin(2 * math.pi * hz * i / rate))
        one = bytes([value + 128]) if width == 1 else value.to_bytes(width, "little", signed=True)
        samples += one * channels
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes(samples))
    return out.getvalue()


def _linear(byte: int) -> int:
    """One G.711 mu-law byte -> its linear sample (the reference decoder)."""
    byte = ~byte & 0xFF
    magnitude = ((byte & 0x0F) << 3) + 0x84
    magnitude <<= (byte & 0x70) >> 4
    return (0x84 - magnitude) if byte & 0x80 else (magnitude - 0x84)


@dataclass(frozen=True)
class Heard:
    """The tone a stream of PCMU RTP carried: its median pitch (Hz, from zero crossings) and
    how long it was loud (seconds, 20 ms a packet), silence left out."""

    hz: float
    seconds: float


def heard(payloads: list[bytes], *, floor: int = 1000) -> Heard | None:
    """What the PCMU payloads whose peak is above `floor` carried; None if none was loud."""
    found = []
    for payload in payloads:
        samples = [_linear(b) for b in payload]
        if not samples or max(abs(s) for s in samples) < floor:
            continue
        crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
        found.append(crossings * RATE / (2 * len(samples)))
    if not found:
        return None
    return Heard(sorted(found)[len(found) // 2], len(found) * PTIME_MS / 1000)


def ulaw_wav_tone(seconds: float, *, hz: int = 440) -> bytes:
    """A PCMU tone in a WAV file (format tag 7: G.711 mu-law, mono, 8 kHz), as a phone system
    exports recordings."""
    return wav_file(b"".join(tone_payloads(seconds, hz)), rate=RATE, tag=MULAW, width=1)
