"""IP addresses and networks as integers: strict parsing, canonical text, unusable ranges.

The C library's inet_pton/inet_ntop parse and print (about 25 times faster than the ipaddress
module, which matters for 100,000 identify entries): inet_pton accepts no zone ID, no leading
zeros in IPv4, no whitespace; inet_ntop prints the canonical RFC 5952 form. A network is
`address/prefix` with the host bits clear.
"""

from __future__ import annotations

import functools
import re
import socket
from typing import NamedTuple

_PREFIX_RE = re.compile(r"0|[1-9][0-9]{0,2}")
BITS = {4: 32, 6: 128}


class Net(NamedTuple):
    """A network (an address is a /32 or /128): version, first address, prefix length."""

    version: int
    start: int
    prefixlen: int

    @property
    def end(self) -> int:
        return self.start + (1 << (BITS[self.version] - self.prefixlen)) - 1

    @property
    def is_address(self) -> bool:
        return self.prefixlen == BITS[self.version]

    def __str__(self) -> str:
        family = socket.AF_INET6 if self.version == 6 else socket.AF_INET
        text = socket.inet_ntop(family, self.start.to_bytes(BITS[self.version] // 8, "big"))
        return text if self.is_address else f"{text}/{self.prefixlen}"


def parse_address(text: str) -> Net:
    """An IPv4 or IPv6 address; ValueError if `text` is not exactly one."""
    family, version = (socket.AF_INET6, 6) if ":" in text else (socket.AF_INET, 4)
    try:
        packed = socket.inet_pton(family, text)
    except (OSError, ValueError):
        raise ValueError(f"not an IPv{version} address") from None
    return Net(version, int.from_bytes(packed, "big"), BITS[version])


@functools.lru_cache(maxsize=1 << 18)  # the checks parse what the validators parsed
def parse_network(text: str) -> Net:
    """`address` or `address/prefix` with no host bits set; ValueError otherwise."""
    address, slash, prefix = text.partition("/")
    net = parse_address(address)
    if not slash:
        return net
    if not _PREFIX_RE.fullmatch(prefix) or int(prefix) > BITS[net.version]:
        raise ValueError(f"/{prefix} is not a prefix length for IPv{net.version}")
    wide = Net(net.version, net.start, int(prefix))
    if wide.start & ((1 << (BITS[net.version] - wide.prefixlen)) - 1):
        raise ValueError(f"{text} has host bits set")
    return wide


# Ranges no pod and no peer on the internet can hold, and why.
_UNUSABLE_TEXT = (
    ("0.0.0.0/32", "the unspecified address"),
    ("0.0.0.0/8", "in 0.0.0.0/8 ('this network', never a host's address)"),
    ("127.0.0.0/8", "a loopback address (the pod itself, never a peer)"),
    ("169.254.0.0/16", "link-local (it does not leave the link)"),
    ("224.0.0.0/4", "a multicast address (SIP needs a unicast peer)"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "reserved (240.0.0.0/4 is not routed)"),
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address (the pod itself, never a peer)"),
    ("::ffff:0:0/96", "IPv4-mapped: write the IPv4 address instead"),
    ("::/96", "IPv4-compatible (deprecated, not routed)"),
    ("fe80::/10", "link-local (it does not leave the link; needs a zone)"),
    ("fec0::/10", "site-local (deprecated, not routed)"),
    ("ff00::/8", "a multicast address (SIP needs a unicast peer)"),
)
UNUSABLE: tuple[tuple[Net, str, str], ...] = tuple(
    (parse_network(net), net, why) for net, why in _UNUSABLE_TEXT
)


def unusable(net: Net) -> str | None:
    """Why no pod or peer can hold an address in `net`, or None."""
    if net.version == 6 and net.prefixlen >= 3 and net.start >> 125 == 1:
        return None  # inside 2000::/3, global unicast: none of the ranges is there
    first = net.start >> 24
    if net.version == 4 and net.prefixlen >= 8 and first not in (0, 127, 169) and first < 224:
        return None  # below 224.0.0.0 and outside 0/8, 127/8, 169.254/16
    end = net.end
    for bad, text, why in UNUSABLE:
        if bad.version == net.version and bad.start <= end and net.start <= bad.end:
            return f"is {why}" if net.is_address else f"overlaps {text}: {why}"
    return None


def family_of(text: str) -> str | None:
    """'ipv6' or 'ipv4' for a (validated) IP literal or network, None for a host name: a name
    never holds ':' and is never all digits and dots (the grammar refuses both)."""
    if ":" in text:
        return "ipv6"
    if text and not text.strip("0123456789./"):
        return "ipv4"
    return None
