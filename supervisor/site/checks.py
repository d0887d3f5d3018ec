"""Checks across the site (references, families, duplicates) and the defaults that depend on them.

`check(site)` returns (key path, message) pairs for every problem; `resolve(site)` fills in the
defaults (one UDP transport per address family, a trunk's transport and family) once `check`
found nothing.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Iterator

from supervisor.site.grammar import family_of
from supervisor.site.model import (
    BUILTIN_CONTEXTS,
    SIP_PORT,
    SIPS_PORT,
    Endpoint,
    Family,
    MediaEncryption,
    Site,
    Transport,
    Trunk,
    TrunkTls,
)
from supervisor.site.yamlsource import Path

Found = tuple[Path, str]
FAMILIES: tuple[Family, ...] = ("ipv6", "ipv4")


def default_transports(site: Site) -> dict[str, Transport]:
    if site.transports:
        return dict(site.transports)
    return {
        f"udp{family[-1]}": Transport(family=family)
        for family in FAMILIES
        if site.addresses.of(family) is not None
    }


def _first_transport(transports: dict[str, Transport], family: Family) -> str | None:
    for name, transport in transports.items():
        if transport.family == family and transport.protocol == "udp":
            return name
    for name, transport in transports.items():
        if transport.family == family:
            return name
    return None


def raw_contexts(site: Site) -> set[str]:
    text = site.raw.get("extensions.conf", "")
    return {m.group(1) for m in SECTION_RE.finditer(text)}


SECTION_RE = re.compile(r"^\s*\[([^\]]+)\]", re.MULTILINE)


def _trunk_family(trunk: Trunk, transports: dict[str, Transport]) -> Family | None:
    if trunk.transport is not None and trunk.transport in transports:
        return transports[trunk.transport].family
    if trunk.family is not None:
        return trunk.family
    for host in trunk.hosts:
        family = family_of(host)
        if family is not None:
            return "ipv6" if family == "ipv6" else "ipv4"
    return None


def default_family(site: Site) -> Family:
    """An endpoint's family when neither family nor transport is given: IPv6 if the pod has it."""
    return "ipv6" if site.addresses.ipv6 is not None else "ipv4"


def _endpoint_family(site: Site, endpoint: Endpoint, transports: dict[str, Transport]) -> Family:
    if endpoint.family is not None:
        return endpoint.family
    if endpoint.transport is not None and endpoint.transport in transports:
        return transports[endpoint.transport].family
    return default_family(site)


def _socket_kind(protocol: str) -> str:
    """tcp and tls both listen on a TCP socket: they cannot share a port."""
    return "udp" if protocol == "udp" else "tcp"


def _check_transports(site: Site, transports: dict[str, Transport]) -> Iterator[Found]:
    seen: dict[tuple[str, str, int], str] = {}
    for name, transport in site.transports.items():
        path: Path = ("transports", name)
        if site.addresses.of(transport.family) is None:
            yield (*path, "family"), f"no {transport.family} address is given in addresses"
        kind = _socket_kind(transport.protocol)
        key = (transport.family, kind, transport.port)
        if key in seen:
            yield path, f"binds the same {kind} port as transport {seen[key]}"
        seen[key] = name
        if transport.protocol != "tls" and transport.tls is not None:
            yield (
                (*path, "tls"),
                f"only a tls transport has tls settings (protocol is {transport.protocol})",
            )


def _tls_transports(transports: dict[str, Transport]) -> list[str]:
    return [n for n, t in transports.items() if t.protocol == "tls"]


def _check_media(
    path: Path,
    media: MediaEncryption | None,
    transport: str | None,
    transports: dict[str, Transport],
    *,
    trunk: bool,
) -> Iterator[Found]:
    """SRTP against the signalling transport: SDES sends the media keys inside the SDP, so on
    anything but tls they cross the network in clear text; DTLS is for phones and WebRTC."""
    if media is None:
        return
    where = (*path, "media_encryption", "method")
    if media.method == "dtls" and trunk:
        yield where, "dtls is for phones and WebRTC; providers use sdes (over a tls transport)"
        return
    if media.method != "sdes" or transport is None or transport not in transports:
        return
    protocol = transports[transport].protocol
    if protocol != "tls":
        tls = _tls_transports(transports)
        hint = f": set transport to {tls[0]}" if tls else ": define a tls transport"
        yield (
            where,
            (
                f"sdes sends the media keys in the SDP, so it needs a tls transport "
                f"(transport {transport} is {protocol}){hint}"
            ),
        )


def _check_family(
    path: Path, family: Family | None, transport: str | None, site: Site, ts: dict[str, Transport]
) -> Iterator[Found]:
    if transport is not None:
        if transport not in ts:
            yield (*path, "transport"), _unknown("transport", transport, ts)
        elif family is not None and ts[transport].family != family:
            yield (*path, "transport"), f"transport {transport} is {ts[transport].family}"
    if family is not None:
        if site.addresses.of(family) is None:
            yield (*path, "family"), f"no {family} address is given in addresses"
        elif _first_transport(ts, family) is None:
            yield (*path, "family"), f"no {family} transport is defined"


def _unknown(kind: str, name: str, known: Iterable[object]) -> str:
    names = sorted(str(n) for n in known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}{hint}"


def _check_addresses(path: Path, items: tuple[str, ...], family: Family | None) -> Iterator[Found]:
    for index, item in enumerate(items):
        item_family = family_of(item)
        if family is not None and item_family is not None and item_family != family:
            yield (*path, index), f"{item} is {item_family}, but this is {family} only"


def check(site: Site) -> list[Found]:
    """Every cross-reference problem of a field-valid site."""
    found: list[Found] = []
    transports = default_transports(site)
    found += _check_transports(site, transports)

    for name in site.endpoints.keys() & site.trunks.keys():
        found.append((("endpoints", name), f"the name {name!r} is also a trunk's name"))

    owners: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, str] = {}
    verifiers: dict[str, tuple[str, bool]] = {}

    def claim(path: Path, owner: str, item: str) -> None:
        network = ipaddress.ip_network(item)
        for other, who in owners.items():
            if who != owner and network.version == other.version and network.overlaps(other):
                found.append((path, f"{item} is also identified as {who}"))
                return
        owners[network] = owner

    for name, trunk in site.trunks.items():
        path: Path = ("trunks", name)
        family = _trunk_family(trunk, transports)
        found += _check_family(path, trunk.family, trunk.transport, site, transports)
        if family is None:
            found.append((path, "give family or transport: no host is an IP address"))
            continue
        found += _check_addresses((*path, "hosts"), trunk.hosts, family)
        identify = trunk.identify
        if identify is None:
            identify = tuple(h for h in trunk.hosts if family_of(h) is not None)
            if not identify and trunk.dids:
                found.append(
                    (
                        (*path, "identify"),
                        "give the provider's addresses: its hosts are names, so its calls "
                        "cannot be recognised",
                    )
                )
        else:
            found += _check_addresses((*path, "identify"), identify, family)
        for index, item in enumerate(identify):
            claim((*path, "identify", index), f"trunk {name}", item)
        explicit = trunk.transport is not None or trunk.family is not None
        if not explicit and _first_transport(transports, family) is None:
            found.append((path, f"no {family} transport is defined"))
        chosen = trunk.transport or _first_transport(transports, family)
        found += _check_media(path, trunk.media_encryption, chosen, transports, trunk=True)
        if chosen in transports and transports[chosen].protocol == "tls":
            verify = (trunk.tls or TrunkTls()).verify
            other = verifiers.setdefault(chosen, (name, verify))
            if other[1] != verify:
                found.append(
                    (
                        (*path, "tls", "verify"),
                        f"trunk {other[0]} on transport {chosen} has verify "
                        f"{str(other[1]).lower()}: Asterisk verifies per transport, so trunks "
                        "sharing one must agree (give this trunk its own tls transport)",
                    )
                )
        elif trunk.tls is not None and chosen in transports:
            found.append(
                (
                    (*path, "tls"),
                    f"tls settings need a tls transport (transport {chosen} is "
                    f"{transports[chosen].protocol})",
                )
            )

    contexts = set(BUILTIN_CONTEXTS) | raw_contexts(site)
    for name, endpoint in site.endpoints.items():
        path = ("endpoints", name)
        found += _check_family(path, endpoint.family, endpoint.transport, site, transports)
        family = _endpoint_family(site, endpoint, transports)
        implicit = endpoint.family is None and endpoint.transport is None
        if implicit and _first_transport(transports, family) is None:
            found.append((path, f"no {family} transport is defined (the default family)"))
        found += _check_addresses((*path, "identify"), endpoint.identify, family)
        chosen = endpoint.transport or _first_transport(transports, family)
        found += _check_media(path, endpoint.media_encryption, chosen, transports, trunk=False)
        for index, item in enumerate(endpoint.identify):
            claim((*path, "identify", index), f"endpoint {name}", item)
        if endpoint.context not in contexts:
            found.append(((*path, "context"), _unknown("context", endpoint.context, contexts)))
        if endpoint.context == "doorbell" and site.dialplan.doorbell is None:
            found.append(((*path, "context"), "context doorbell needs dialplan.doorbell"))

    found += _check_dialplan(site)
    found += _check_raw_sections(site)
    return found


def generated_sections(site: Site, file: str) -> set[str]:
    """Section names the renderer writes into `file` (raw snippets must not reuse them)."""
    if file == "pjsip.conf":
        return (
            {"global", "system"}
            | set(default_transports(site))
            | set(site.trunks)
            | set(site.endpoints)
        )
    if file == "extensions.conf":
        names = {"general", "globals", "extensions", "outbound", *BUILTIN_CONTEXTS}
        names |= {f"from-{t}" for t in site.trunks}
        return names | {f"ring-{g}" for g in site.dialplan.ring_groups}
    if file in ("rtp.conf", "features.conf", "udptl.conf", "ccss.conf", "indications.conf"):
        return {"general"}
    return set()


def _check_raw_sections(site: Site) -> Iterator[Found]:
    for file, text in site.raw.items():
        taken = generated_sections(site, file)
        for match in SECTION_RE.finditer(text):
            if match.group(1) in taken:
                yield ("raw", file), f"section [{match.group(1)}] is generated from the model"


def _check_dialplan(site: Site) -> Iterator[Found]:
    plan = site.dialplan
    groups = plan.ring_groups
    endpoints = site.endpoints
    targets = set(groups) | set(endpoints)

    def target(path: Path, name: str) -> Iterator[Found]:
        if name not in targets:
            yield path, _unknown("endpoint or ring group", name, targets)
        elif name in endpoints and endpoints[name].auth is None:
            yield path, f"endpoint {name} cannot be called: it does not register (no auth)"

    for name in groups.keys() & endpoints.keys():
        yield ("dialplan", "ring_groups", name), f"{name!r} is also an endpoint's name"
    for number, name in plan.extensions.items():
        yield from target(("dialplan", "extensions", number), name)
    for name, group in groups.items():
        path: Path = ("dialplan", "ring_groups", name)
        for index, member in enumerate(group.endpoints):
            if member not in endpoints:
                yield (*path, "endpoints", index), _unknown("endpoint", member, endpoints)
            elif endpoints[member].auth is None:
                yield (
                    (*path, "endpoints", index),
                    f"endpoint {member} cannot be called: it does not register (no auth)",
                )
        if group.fallback is not None:
            yield from target((*path, "fallback"), group.fallback)
    # A fallback chain must end: a -> b -> a would ring forever.
    for name in groups:
        seen = [name]
        current = groups[name].fallback
        while current in groups:
            if current in seen:
                chain = " -> ".join([*seen[seen.index(current) :], current])
                if current == name:
                    yield ("dialplan", "ring_groups", name, "fallback"), f"loops: {chain}"
                break
            seen.append(current)
            current = groups[current].fallback
    dids = {did for trunk in site.trunks.values() for did in trunk.dids}
    for did, name in plan.inbound.items():
        path = ("dialplan", "inbound", did)
        if did not in dids:
            yield path, f"no trunk lists {did} in its dids"
        yield from target(path, name)
    patterns: dict[str, int] = {}
    for index, route in enumerate(plan.outbound):
        path = ("dialplan", "outbound", index)
        if route.trunk not in site.trunks:
            yield (*path, "trunk"), _unknown("trunk", route.trunk, site.trunks)
        if route.pattern in patterns:
            yield (*path, "pattern"), f"same pattern as outbound[{patterns[route.pattern]}]"
        patterns.setdefault(route.pattern, index)
    if plan.doorbell is not None:
        yield from target(("dialplan", "doorbell", "ring"), plan.doorbell.ring)


def resolve(site: Site) -> Site:
    """The site with defaults that depend on other parts filled in (call after a clean check)."""
    transports = default_transports(site)
    trunks = {}
    for name, trunk in site.trunks.items():
        family = _trunk_family(trunk, transports)
        assert family is not None
        transport = trunk.transport or _first_transport(transports, family)
        identify = trunk.identify
        if identify is None:
            identify = tuple(h for h in trunk.hosts if family_of(h) is not None)
        assert transport is not None
        tls = transports[transport].protocol == "tls"
        trunks[name] = trunk.model_copy(
            update={
                "family": family,
                "transport": transport,
                "identify": identify,
                "port": trunk.port or (SIPS_PORT if tls else SIP_PORT),
                "tls": (trunk.tls or TrunkTls()) if tls else None,
            }
        )
    endpoints = {}
    for name, endpoint in site.endpoints.items():
        family = _endpoint_family(site, endpoint, transports)
        transport = endpoint.transport or _first_transport(transports, family)
        endpoints[name] = endpoint.model_copy(update={"family": family, "transport": transport})
    return site.model_copy(
        update={"transports": transports, "trunks": trunks, "endpoints": endpoints}
    )
