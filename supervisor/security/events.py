"""Asterisk's security events as AMI delivers them (class `security`), parsed into values.

Asterisk 22 defines these event types (main/security_events.c); res_pjsip reports
InvalidAccountID (no endpoint matched), ChallengeSent, ChallengeResponseFailed (wrong password,
or any response for an unknown account), SuccessfulAuth, FailedACL (an endpoint's own ACL),
RequestNotSupported and MemoryLimit; the AMI reports its own login failures (InvalidAccountID,
InvalidPassword, FailedACL, RequestNotAllowed, ...). Every event carries `Service`, `AccountID`
and `RemoteAddress` (`IPV4/UDP/203.0.113.5/5060`, `IPV6/UDP/2001:db8::5/5060`).

Labels stay bounded: an event name outside KNOWN_EVENTS counts as `other`, a service outside
KNOWN_SERVICES as `other`. Addresses and account names never become labels.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Every security event type Asterisk 22 defines, in its own order.
KNOWN_EVENTS: Final[tuple[str, ...]] = (
    "FailedACL",
    "InvalidAccountID",
    "SessionLimit",
    "MemoryLimit",
    "LoadAverageLimit",
    "RequestNotSupported",
    "RequestNotAllowed",
    "AuthMethodNotAllowed",
    "RequestBadFormat",
    "SuccessfulAuth",
    "UnexpectedAddress",
    "ChallengeResponseFailed",
    "InvalidPassword",
    "ChallengeSent",
    "InvalidTransport",
)

#: The events the supervisor subscribes to: all. ChallengeSent (before every digest login, a
#: phone's REGISTER refresh too) is how a flood of requests naming a real account without
#: credentials becomes visible: Asterisk reports nothing else for them (AccountID is then the
#: endpoint's name; `<unknown>` for a name that matched none, which InvalidAccountID reports).
SUBSCRIBED: Final[tuple[str, ...]] = KNOWN_EVENTS

#: Transports whose source address is proven: a TCP handshake (and TLS, WebSocket over them)
#: needs the peer to receive our packets at that address. UDP proves nothing.
PROVEN_TRANSPORTS: Final[frozenset[str]] = frozenset({"TCP", "TLS", "WS", "WSS"})

#: Events that count against their source: a request that was refused for what the sender did.
#: Not failures: SuccessfulAuth, ChallengeSent, and the limits (SessionLimit, MemoryLimit,
#: LoadAverageLimit), which describe the PBX's load rather than the sender's intent.
FAILURES: Final[frozenset[str]] = frozenset(
    {
        "FailedACL",
        "InvalidAccountID",
        "RequestNotSupported",
        "RequestNotAllowed",
        "AuthMethodNotAllowed",
        "RequestBadFormat",
        "UnexpectedAddress",
        "ChallengeResponseFailed",
        "InvalidPassword",
        "InvalidTransport",
    }
)

KNOWN_SERVICES: Final[tuple[str, ...]] = ("PJSIP", "AMI", "ARI", "HTTP")
OTHER: Final = "other"

# An account name as reported (the From user of a SIP request: anything a scanner sends);
# kept only when it is short and harmless, for /status.
_ACCOUNT_RE = re.compile(r"[A-Za-z0-9_.+~!*'@-]{1,64}")


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    kind: str  # one of KNOWN_EVENTS or "other"
    service: str  # one of KNOWN_SERVICES or "other"
    source: IPAddress | None  # None when the event carries no usable address
    account: str | None  # the account tried, when it is a plain name
    failure: bool
    proven: bool = False  # came over a connection (TCP/TLS): the source address is real


#: Distinct address texts whose parsed value is kept (a flood repeats its sources; a scanner
#: with fresh addresses only churns the cache, which stays bounded).
ADDRESS_CACHE = 8192
#: Network texts kept: more than the default max_bans (100,000), so that writing the whole ban
#: list formats only the bans that are new since the last time.
NETWORK_TEXTS = 1 << 17


def parse_address(value: str) -> IPAddress | None:
    """`IPV4/UDP/203.0.113.5/5060` -> 203.0.113.5 (IPv4-mapped IPv6 is unmapped); None when
    the field is missing or malformed."""
    parts = value.split("/")
    if len(parts) < 3:
        return None
    return _address(parts[2])


@functools.lru_cache(maxsize=ADDRESS_CACHE)
def _address(text: str) -> IPAddress | None:
    # Cached: parsing an IPv6 text is most of what an event costs, and every request of a
    # flood (several events each) names the same few addresses. The same object comes back
    # each time, so what the policy derives from it is cached too (policy.network_of).
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


Key = tuple[int, int, int]
"""A network's order(): (IP version, first address as an integer, prefix length)."""
_texts: dict[Key, str] = {}


def order(network: IPNetwork) -> Key:
    """A sort key: IPv4 before IPv6, then as networks compare (address, then prefix length).
    By integers: comparing or hashing network objects runs Python code every time, which
    dominated sorting and formatting 10,000 bans (profiled)."""
    return (network.version, int(network.network_address), network.prefixlen)


def network_text(network: IPNetwork, key: Key | None = None) -> str:
    """`2001:db8:bad::/64`, `203.0.113.5/32` (str() of the network, the prefix always
    written), cached by order() key (given when the caller has it): the ban list is written
    out (ACL, ban file) at every change, and formatting an IPv6 address is the slowest part of
    it. The cache starts over when it holds NETWORK_TEXTS."""
    key = order(network) if key is None else key
    text = _texts.get(key)
    if text is None:
        if len(_texts) >= NETWORK_TEXTS:
            _texts.clear()
        text = _texts[key] = str(network)
    return text


def transport_of(value: str) -> str:
    """`IPV6/TLS/2001:db8::5/5061` -> `TLS` (upper case; empty when missing)."""
    parts = value.split("/")
    return parts[1].upper() if len(parts) >= 3 else ""


def parse(event: Mapping[str, str]) -> SecurityEvent:
    name = event.get("Event", "")
    kind = name if name in KNOWN_EVENTS else OTHER
    service = event.get("Service", "")
    account = event.get("AccountID", "")
    remote = event.get("RemoteAddress", "")
    return SecurityEvent(
        kind=kind,
        service=service if service in KNOWN_SERVICES else OTHER,
        source=parse_address(remote),
        account=account if _ACCOUNT_RE.fullmatch(account) else None,
        failure=kind in FAILURES,
        proven=transport_of(remote) in PROVEN_TRANSPORTS,
    )


class NetworkList(tuple[IPNetwork, ...]):
    """Networks in order() and distinct, with their texts (network_text): the guard's ban list
    as the renderer gets it, so that a change neither sorts nor formats 10,000 networks again
    (render/acl.py takes the texts as they are; profiled)."""

    texts: tuple[str, ...]

    def __new__(cls, networks: Iterable[IPNetwork], texts: Iterable[str]) -> NetworkList:
        made = super().__new__(cls, networks)
        made.texts = tuple(texts)
        return made
