"""Helpers for the address tests in the lab's namespaces."""

from __future__ import annotations

import ipaddress
import socket

from lab.netns import DOORBELL_V4, POD_V4, POD_V6, PROVIDER_V6, Lab, call_in
from supervisor.addresses import ExpectedAddress, Trunk

EXPECTED = (
    ExpectedAddress(address=ipaddress.ip_address(POD_V6)),
    ExpectedAddress(address=ipaddress.ip_address(POD_V4)),
)
# The doorbell is not a trunk, but as an IPv4 peer it exercises the IPv4 egress check.
TRUNKS = (
    Trunk(name="provider", hosts=(PROVIDER_V6,)),
    Trunk(name="doorbell", hosts=(DOORBELL_V4,)),
)


def _udp_socket(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    sock.bind((address, port))
    return sock


def udp_round_trip(lab: Lab, peer_host: str, peer_address: str, pod_address: str) -> bool:
    """A datagram from the peer to the pod's address and the answer back, like SIP over UDP.

    Each socket is made inside its own namespace and stays there; the exchange itself runs here.
    """
    server = call_in(lab.pod, _udp_socket, pod_address, 0)
    client = call_in(lab.ns(peer_host), _udp_socket, peer_address, 0)
    try:
        client.sendto(b"OPTIONS", (pod_address, server.getsockname()[1]))
        data, peer = server.recvfrom(100)
        server.sendto(b"200 OK", peer)
        answer, source = client.recvfrom(100)
    except TimeoutError:
        return False
    finally:
        server.close()
        client.close()
    return data == b"OPTIONS" and answer == b"200 OK" and source[0] == pod_address
