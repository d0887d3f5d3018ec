"""An RTCP receiver-report responder for lab far ends (sipp sends RTP but no RTCP).

Bound to a far end's RTCP port (its SDP media port + 1) inside its namespace, it answers every
RTCP sender report Asterisk sends with a receiver report (RFC 3550 6.4.2) whose LSR is that
report's NTP middle 32 bits and whose DLSR says it answered at once, after holding it `hold`
seconds: Asterisk then measures an RTCP round trip of `hold` plus the lab's own (sub-millisecond)
delay, a known RTT to check `asterisk_supervisor_call_rtt_seconds` against.

    with RtcpResponder(lab.doorbell, DOORBELL_V4, 17001, ssrc=0x5EED0001, hold=0.05):
        ... calls whose far end plays from media port 17000 ...
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from types import TracebackType

from lab.netns import entered

_SR, _RR = 200, 201


def receiver_report(sender_report: bytes, ssrc: int) -> bytes | None:
    """The RR answering one compound RTCP packet that starts with an SR; None otherwise."""
    if len(sender_report) < 28:
        return None
    first, pt = sender_report[0], sender_report[1]
    if first >> 6 != 2 or pt != _SR:
        return None
    their_ssrc, ntp_msw, ntp_lsw = struct.unpack("!III", sender_report[4:16])
    lsr = ((ntp_msw & 0xFFFF) << 16) | (ntp_lsw >> 16)
    return struct.pack(
        "!BBHIIIIIII",
        0x81,  # version 2, one report block
        _RR,
        7,  # length in 32-bit words minus one
        ssrc,
        their_ssrc,
        0,  # fraction lost, cumulative lost
        0,  # extended highest sequence number
        0,  # interarrival jitter
        lsr,
        0,  # DLSR: answered at once (the hold is on the "network")
    )


class RtcpResponder:
    """A thread in `ns` answering SRs on (address, port) with RRs after `hold` seconds."""

    def __init__(self, ns: str, address: str, port: int, *, ssrc: int, hold: float) -> None:
        self.ns, self.address, self.port = ns, address, port
        self.ssrc, self.hold = ssrc, hold
        self.answered = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"rtcp-{port}", daemon=True)

    def start(self) -> RtcpResponder:
        self._thread.start()
        self._ready.wait(5)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> RtcpResponder:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _main(self) -> None:
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        try:
            with entered(self.ns), socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.bind((self.address, self.port))
                sock.settimeout(0.2)
                self._ready.set()
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        data, peer = sock.recvfrom(2048)
                        answer = receiver_report(data, self.ssrc)
                        if answer is not None:
                            time.sleep(self.hold)
                            sock.sendto(answer, peer)
                            self.answered += 1
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
