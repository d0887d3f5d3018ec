"""lab/rtcp.py: the receiver report it answers an Asterisk sender report with (RFC 3550 6.4)."""

from __future__ import annotations

import struct

from lab.rtcp import receiver_report


def sender_report(ssrc: int, msw: int, lsw: int) -> bytes:
    sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, msw, lsw, 160, 50, 8000)
    sdes = struct.pack("!BBH", 0x81, 202, 1) + struct.pack("!I", ssrc)
    return sr + sdes  # compound, as Asterisk sends it


def test_receiver_report_carries_lsr_and_both_ssrcs() -> None:
    """LSR is the SR's NTP middle 32 bits, DLSR 0, the block about the SR's sender."""
    rr = receiver_report(sender_report(0xAABBCCDD, 0x12345678, 0x9ABCDEF0), 0x5EED0001)
    assert rr is not None
    assert len(rr) == 32
    first, pt, length, ours, theirs, lost, seq, jitter, lsr, dlsr = struct.unpack("!BBHIIIIIII", rr)
    assert (first, pt, length) == (0x81, 201, 7)
    assert (ours, theirs) == (0x5EED0001, 0xAABBCCDD)
    assert (lost, seq, jitter) == (0, 0, 0)
    assert lsr == 0x56789ABC
    assert dlsr == 0


def test_anything_but_a_sender_report_is_not_answered() -> None:
    """Receiver reports, other versions and short packets get no answer."""
    sr = sender_report(1, 2, 3)
    assert receiver_report(sr[:20], 5) is None
    assert receiver_report(b"\x40" + sr[1:], 5) is None  # version 1
    assert receiver_report(sr[:1] + bytes([201]) + sr[2:], 5) is None
