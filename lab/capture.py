"""A packet capture without tcpdump: an AF_PACKET socket in a lab namespace (the router, which
sees every packet between the hosts) collecting IPv6/IPv4 UDP datagrams for a while."""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from lab import netns

ETH_P_ALL = 0x0003
MAX_PACKETS = 20_000


@dataclass(frozen=True)
class Datagram:
    source: str
    destination: str
    sport: int
    dport: int
    payload: bytes


def _parse(frame: bytes) -> Datagram | None:
    """A UDP datagram from an Ethernet frame (IPv6 without extension headers, or IPv4)."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    packet = frame[14:]
    if ethertype == 0x86DD and len(packet) >= 48 and packet[6] == 17:
        src = str(ipaddress.IPv6Address(packet[8:24]))
        dst = str(ipaddress.IPv6Address(packet[24:40]))
        udp = packet[40:]
    elif ethertype == 0x0800 and len(packet) >= 28 and packet[9] == 17:
        header = (packet[0] & 0x0F) * 4
        src = str(ipaddress.IPv4Address(packet[12:16]))
        dst = str(ipaddress.IPv4Address(packet[16:20]))
        udp = packet[header:]
    else:
        return None
    if len(udp) < 8:
        return None
    sport, dport, length = struct.unpack("!HHH", udp[:6])
    return Datagram(src, dst, sport, dport, udp[8:length])


@dataclass
class Capture:
    """UDP datagrams arriving on the interfaces of a namespace (one, or all: each packet the
    router forwards is seen once, as it arrives) between start() and stop()."""

    ns: str
    interface: str | None = None
    datagrams: list[Datagram] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None

    def start(self) -> Capture:
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.ns}", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        try:
            with (
                netns.entered(self.ns),
                socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock,
            ):
                if self.interface is not None:
                    sock.bind((self.interface, 0))
                sock.settimeout(0.1)
                self._ready.set()
                while not self._stop.is_set() and len(self.datagrams) < MAX_PACKETS:
                    try:
                        frame, address = sock.recvfrom(65535)
                    except TimeoutError:
                        continue
                    if address[2] == socket.PACKET_OUTGOING:
                        continue  # each forwarded packet once: as it arrives
                    datagram = _parse(frame)
                    if datagram is not None:
                        self.datagrams.append(datagram)
        except BaseException as exc:  # handed to start()
            self._error = exc
            self._ready.set()

    def stop(self) -> list[Datagram]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        return self.datagrams

    def between(self, a: str, b: str) -> list[Datagram]:
        """Datagrams from a to b or b to a."""
        return [d for d in self.datagrams if {d.source, d.destination} == {a, b}]


def wait_for(capture: Capture, predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate(capture):
            return
        time.sleep(0.1)
