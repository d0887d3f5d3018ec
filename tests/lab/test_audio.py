"""lab/audio.py: the PCMU tone pcap that sipp plays is valid G.711 mu-law RTP at 50 packets/s."""

from __future__ import annotations

import struct

from lab import audio


def test_mulaw_matches_g711_reference_points() -> None:
    """Silence, the extremes and both signs encode as G.711's reference encoder does."""
    assert audio.mulaw(0) == 0xFF
    assert audio.mulaw(-1) == 0x7E
    assert audio.mulaw(32767) == 0x80
    assert audio.mulaw(-32768) == 0x00
    assert audio.mulaw(1000) == 0xCE
    assert audio.mulaw(-1000) == 0x4E


def test_pcap_holds_consecutive_rtp_packets_every_20_ms() -> None:
    """A 2 s tone: 100 Ethernet/IPv4/UDP frames, RTP v2 PCMU with consecutive sequence numbers,
    timestamps 160 apart, one SSRC, marker on the first, valid IPv4 and UDP checksums."""
    data = audio.tone_pcap(2, ssrc=0x01020304)
    magic, major, minor, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 1)
    offset, packets = 24, []
    while offset < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + incl]
        assert incl == orig == len(frame)
        packets.append((sec * 1_000_000 + usec, frame))
        offset += 16 + incl
    assert len(packets) == 100
    for n, (when, frame) in enumerate(packets):
        assert when == n * 20_000
        ip, udp, rtp = frame[14:34], frame[34:42], frame[42:]
        assert audio._checksum(ip) == 0  # a header with its checksum sums to 0xFFFF
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp) + len(rtp))
        assert audio._checksum(pseudo + udp + rtp) == 0
        first, second, seq, timestamp, ssrc = struct.unpack("!BBHII", rtp[:12])
        assert first == 0x80
        assert second == (0x80 if n == 0 else 0)  # marker, payload type 0 (PCMU)
        assert (seq, timestamp, ssrc) == (n, n * 160, 0x01020304)
        assert len(rtp) == 12 + 160
    # A tone, not silence: the payload varies.
    assert len(set(packets[0][1][54:])) > 20
