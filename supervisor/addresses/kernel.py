"""What the kernel says: addresses over netlink (pyroute2), bindability and source selection.

Everything here acts in the network namespace of the calling thread, which in the pod is the
pod's own; tests run it inside a lab namespace.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from pyroute2 import AsyncIPRoute

from supervisor.addresses.model import Family, IPAddress, KernelAddress, family_of

# Any port will do: a UDP connect() sends nothing, it only runs route and source selection.
_PROBE_PORT = 5060


def _kernel_addresses(
    addr_msgs: Iterable[Mapping[str, Any]], links: Mapping[int, str]
) -> list[KernelAddress]:
    result = []
    for msg in addr_msgs:
        text = _get(msg, "IFA_ADDRESS") or _get(msg, "IFA_LOCAL")
        if not text:
            continue
        # IFA_FLAGS carries all 32 bits; the header's 8-bit field is the fallback on old kernels.
        flags = _get(msg, "IFA_FLAGS")
        result.append(
            KernelAddress(
                address=ipaddress.ip_address(str(text).split("%")[0]),
                prefixlen=int(msg["prefixlen"]),
                interface=links.get(int(msg["index"]), str(msg["index"])),
                flags=int(flags if flags is not None else msg["flags"]),
            )
        )
    return result


def _get(msg: Mapping[str, Any], attr: str) -> Any:
    getter = getattr(msg, "get_attr", None)
    if getter is not None:
        return getter(attr)
    return msg.get(attr)


async def read_addresses_async(ipr: AsyncIPRoute) -> list[KernelAddress]:
    """Every address of the namespace, with its interface name and IFA flags, on the caller's
    asyncio netlink socket."""
    links = {int(m["index"]): str(_get(m, "IFLA_IFNAME")) async for m in await ipr.get_links()}
    msgs = [m async for m in await ipr.get_addr()]
    return _kernel_addresses(msgs, links)


def _af(address: IPAddress) -> socket.AddressFamily:
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def bind_probe(address: IPAddress) -> str | None:
    """None if a UDP socket can bind the address (port 0), else why not (e.g. tentative)."""
    with socket.socket(_af(address), socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((str(address), 0))
        except OSError as exc:
            return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
    return None


def selected_source(destination: IPAddress) -> IPAddress:
    """The source address the kernel picks toward destination (UDP connect, nothing sent)."""
    with socket.socket(_af(destination), socket.SOCK_DGRAM) as sock:
        sock.connect((str(destination), _PROBE_PORT))
        name = sock.getsockname()[0]
    return ipaddress.ip_address(str(name).split("%")[0])


def resolve(host: str, family: Family | None) -> dict[Family, IPAddress]:
    """The provider's first address per family (an address literal needs no lookup)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return {family_of(literal): literal}
    af = {"ipv6": socket.AF_INET6, "ipv4": socket.AF_INET, None: socket.AF_UNSPEC}[family]
    found: dict[Family, IPAddress] = {}
    for entry in socket.getaddrinfo(host, _PROBE_PORT, af, socket.SOCK_DGRAM):
        address = ipaddress.ip_address(str(entry[4][0]).split("%")[0])
        found.setdefault(family_of(address), address)
    return found
