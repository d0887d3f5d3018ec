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


def _rtp_of(data: bytes) -> list[tuple[int, bytes]]:
    offset, out = 24, []
    while offset < len(data):
        sec, usec, incl, _ = struct.unpack("<IIII", data[offset : offset + 16])
        out.append((sec * 1_000_000 + usec, data[offset + 16 + 42 : offset + 16 + incl]))
        offset += 16 + incl
    return out


def test_dtmf_pcap_is_rfc4733_with_a_new_event_per_press() -> None:
    """Each press: a marker packet, growing durations, three end packets; a repeated digit is a
    new event (new timestamp), sequence numbers never repeat, pauses are in the timing."""
    packets = _rtp_of(audio.dtmf_pcap([(1.0, "11"), (2.0, "#")]))
    events: list[tuple[int, int]] = []  # (timestamp, event) per press
    seqs = []
    for when, rtp in packets:
        first, second, seq, timestamp, _ = struct.unpack("!BBHII", rtp[:12])
        event, flags, duration = struct.unpack("!BBH", rtp[12:16])
        assert first == 0x80
        assert second & 0x7F == audio.PAYLOAD_EVENT
        if second & 0x80:
            events.append((timestamp, event))
            assert when == timestamp * 1000 // 8  # sent when its event starts
        assert duration % 160 == 0
        if flags & 0x80:  # end
            assert duration == 160 * 8
        seqs.append(seq)
    assert [e for _, e in events] == [1, 1, 11]
    assert len({t for t, _ in events}) == 3, "a repeated digit must be a new event"
    assert events[0][0] == 8000  # after the first 1 s pause
    ends = [rtp for _, rtp in packets if rtp[13] & 0x80]
    assert len(ends) == 9  # three per press
    assert len(set(seqs)) == len(seqs) - 6  # the 3 ends of a press are one retransmitted packet
    assert audio.plan_seconds([(1.0, "11"), (2.0, "#")]) >= packets[-1][0] / 1e6


def test_dtmf_pcap_lead_keeps_the_first_pause() -> None:
    """sipp times a pcap from its first packet: with `lead` a PCMU silence packet at 0 comes
    first, so the first press still starts after its pause (1 s); without it the press is first."""
    led = _rtp_of(audio.dtmf_pcap([(1.0, "5")], lead=True))
    when, rtp = led[0]
    assert (when, rtp[1], set(rtp[12:])) == (0, 0x80 | 0, {0xFF})  # marker, PCMU, silence
    assert led[1][0] == 1_000_000
    assert led[1][1][1] == 0x80 | audio.PAYLOAD_EVENT
    plain = _rtp_of(audio.dtmf_pcap([(1.0, "5")]))
    assert plain[0][1][1] == 0x80 | audio.PAYLOAD_EVENT
    assert [seq for seq in (struct.unpack("!H", r[2:4])[0] for _, r in led)] == list(
        range(len(led) - 2)
    ) + [len(led) - 3] * 2  # the end packet retransmitted twice
