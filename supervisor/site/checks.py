"""Checks across the site (references, families, duplicates) and the defaults that depend on them.

`check(site)` returns (key path, message) pairs for every problem; once it found nothing,
`resolve.resolve(site)` fills in the defaults (one UDP transport per address family, a trunk's
transport and family).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from supervisor.site import ipnet, reach, sections
from supervisor.site.flowchecks import check_flows
from supervisor.site.grammar import family_of
from supervisor.site.limits import DIAL_OUT_PREFIX, MAX_IDENTIFY_TOTAL
from supervisor.site.model import (
    BUILTIN_CONTEXTS,
    Family,
    MediaEncryption,
    Site,
    Transport,
    TrunkTls,
)
from supervisor.site.raw import raw_headers, raw_sections
from supervisor.site.resolve import (
    default_transports,
    endpoint_family,
    first_transport,
    trunk_family,
)
from supervisor.site.suggest import Suggest
from supervisor.site.yamlsource import Path

Found = tuple[Path, str]


def raw_contexts(site: Site) -> set[str]:
    """Contexts a raw extensions.conf snippet defines, as Asterisk reads them."""
    return set(raw_sections(site.raw.get("extensions.conf", "")))


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
    path: Path,
    family: Family | None,
    transport: str | None,
    site: Site,
    ts: dict[str, Transport],
    suggest: Suggest,
) -> Iterator[Found]:
    if transport is not None:
        if transport not in ts:
            yield (*path, "transport"), suggest.unknown("transport", transport, ts)
        elif family is not None and ts[transport].family != family:
            yield (*path, "transport"), f"transport {transport} is {ts[transport].family}"
    if family is not None:
        if site.addresses.of(family) is None:
            yield (*path, "family"), f"no {family} address is given in addresses"
        elif first_transport(ts, family) is None:
            yield (*path, "family"), f"no {family} transport is defined"


def _check_addresses(path: Path, items: tuple[str, ...], family: Family | None) -> Iterator[Found]:
    for index, item in enumerate(items):
        item_family = family_of(item)
        if family is not None and item_family is not None and item_family != family:
            yield (*path, index), f"{item} is {item_family}, but this is {family} only"


def check(site: Site) -> list[Found]:
    """Every cross-reference problem of a field-valid site."""
    found: list[Found] = []
    suggest = Suggest()
    transports = default_transports(site)
    found += _check_transports(site, transports)

    for name in site.endpoints.keys() & site.trunks.keys():
        found.append((("endpoints", name), f"the name {name!r} is also a trunk's name"))

    claims: list[_Claim] = []
    verifiers: dict[str, tuple[str, bool]] = {}
    total = sum(
        len(t.identify) if t.identify is not None else sum(1 for h in t.hosts if family_of(h))
        for t in site.trunks.values()
    )
    total += sum(len(e.identify) for e in site.endpoints.values())
    over = total > MAX_IDENTIFY_TOTAL  # then only counted: the overlap check is not run

    def claim(path: Path, owner: str, item: str) -> None:
        if over:
            if len(claims) == MAX_IDENTIFY_TOTAL:
                found.append(
                    (path, f"more than {MAX_IDENTIFY_TOTAL:,} identify entries in the site")
                )
            claims.append(_Claim(ipnet.Net(0, 0, 0), 0, "", (), ""))  # a count only
            return
        claims.append(_Claim(ipnet.parse_network(item), len(claims), owner, path, item))

    for name, trunk in site.trunks.items():
        path: Path = ("trunks", name)
        family = trunk_family(trunk, transports)
        found += _check_family(path, trunk.family, trunk.transport, site, transports, suggest)
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
        if not explicit and first_transport(transports, family) is None:
            found.append((path, f"no {family} transport is defined"))
        chosen = trunk.transport or first_transport(transports, family)
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
        found += _check_family(path, endpoint.family, endpoint.transport, site, transports, suggest)
        family = endpoint_family(site, endpoint, transports)
        implicit = endpoint.family is None and endpoint.transport is None
        if implicit and first_transport(transports, family) is None:
            found.append((path, f"no {family} transport is defined (the default family)"))
        found += _check_addresses((*path, "identify"), endpoint.identify, family)
        chosen = endpoint.transport or first_transport(transports, family)
        found += _check_media(path, endpoint.media_encryption, chosen, transports, trunk=False)
        for index, item in enumerate(endpoint.identify):
            claim((*path, "identify", index), f"endpoint {name}", item)
        if endpoint.context not in contexts:
            found.append(
                ((*path, "context"), suggest.unknown("context", endpoint.context, contexts))
            )
        if endpoint.context == "doorbell" and site.dialplan.doorbell is None:
            found.append(((*path, "context"), "context doorbell needs dialplan.doorbell"))

    if not over:
        found += _overlaps(claims)
    found += _check_dial_out(site, contexts)
    found += reach.problems(site, dial_out_contexts(site, contexts))
    found += _check_dialplan(site, suggest)
    found += check_flows(site)
    found += _check_voicemail(site)
    found += _check_raw_sections(site)
    return found


class _Claim(NamedTuple):
    network: ipnet.Net
    order: int
    owner: str
    path: Path
    item: str


# The two earliest claims of distinct owners in a set of claims: enough to answer "the earliest
# claim in the set whose owner is not X" for any X.
_Summary = tuple[_Claim, ...]


def _merge(a: _Summary, b: _Summary) -> _Summary:
    if not b:
        return a
    if not a:
        return b
    both = a + b
    first = both[0]
    for claim in both:
        if claim.order < first.order:
            first = claim
    second = None
    for claim in both:
        if claim.owner != first.owner and (second is None or claim.order < second.order):
            second = claim
    return (first,) if second is None else (first, second)


def _earliest_other(summary: _Summary, owner: str) -> _Claim | None:
    for claim in summary:
        if claim.owner != owner:
            return claim
    return None


def _overlaps(claims: list[_Claim]) -> list[Found]:
    """Entries that overlap an earlier entry of another owner, found in n log n.

    Two CIDR networks either nest or are disjoint, so the distinct networks form a forest; sorted
    by (start, widest first) it is walked depth-first with a stack of the open networks (at most
    129 deep). Each stack level keeps a summary of its ancestors' claims and of its subtree's
    (children fold their subtree into the parent when closed); a claim overlaps exactly the
    claims of its ancestors, its own network and its subtree, so one summary lookup answers
    whether an earlier claim of another owner overlaps it."""
    found: dict[int, tuple[_Claim, _Claim]] = {}
    if _disjoint(claims):
        return []  # the common case, told in one sort
    for version in (4, 6):
        groups: dict[tuple[int, int], list[_Claim]] = {}
        for claim in claims:
            if claim.network.version == version:
                key = (claim.network.start, claim.network.prefixlen)
                groups.setdefault(key, []).append(claim)
        # Stack levels: end address, the network's claims, summary of its own and its
        # ancestors' claims, summary of its subtree (a one-item list: updated in place).
        stack: list[_Level] = []
        for start, prefixlen in sorted(groups):
            own = groups[(start, prefixlen)]
            size = 1 << (ipnet.BITS[version] - prefixlen)
            while stack and stack[-1][0] < start:
                _close(stack, found)
            mine = _own_summary(own)
            # Ancestors' claims and this network's own: what every claim below overlaps.
            above = _merge(stack[-1][2], mine) if stack else mine
            stack.append((start + size - 1, own, above, [mine]))
        while stack:
            _close(stack, found)
    out: list[Found] = []
    for order in sorted(found):
        claim, other = found[order]
        out.append((claim.path, f"{claim.item} is also identified as {other.owner}"))
    return out


def _disjoint(claims: list[_Claim]) -> bool:
    """Whether no two entries overlap at all (then no owner can clash)."""
    spans = sorted(
        (
            c.network.version,
            c.network.start,
            c.network.start + (1 << (ipnet.BITS[c.network.version] - c.network.prefixlen)) - 1,
        )
        for c in claims
    )
    last_version, last_end = 0, -1
    for version, start, end in spans:
        if version == last_version and start <= last_end:
            return False
        last_version, last_end = version, end
    return True


_Level = tuple[int, list[_Claim], _Summary, list[_Summary]]


def _close(stack: list[_Level], found: dict[int, tuple[_Claim, _Claim]]) -> None:
    """Pop the innermost open network: judge its claims, fold its subtree into its parent."""
    _, own, above, below = stack.pop()
    everything = _merge(above, below[0])
    for claim in own:
        other = _earliest_other(everything, claim.owner)
        if other is not None and other.order < claim.order:
            found[claim.order] = (claim, other)
    if stack:
        stack[-1][3][0] = _merge(stack[-1][3][0], below[0])


def _own_summary(own: list[_Claim]) -> _Summary:
    summary: _Summary = ()
    for claim in own:
        summary = _merge(summary, (claim,))
    return summary


def dial_out_contexts(site: Site, contexts: Iterable[str]) -> set[str]:
    """Contexts from which a call can go out through a trunk: `internal` (it includes
    `outbound`) and, since their text is not interpreted here, every context of a raw snippet."""
    return {"internal"} | (set(contexts) - set(BUILTIN_CONTEXTS))


def _check_dial_out(site: Site, contexts: set[str]) -> Iterator[Found]:
    """An identify entry lets every address in it call without a password: where the
    context can call out through a trunk, it must be no wider than a LAN."""
    dial_out = dial_out_contexts(site, contexts)
    for name, endpoint in site.endpoints.items():
        if endpoint.context not in dial_out:
            continue
        for index, item in enumerate(endpoint.identify):
            network = ipnet.parse_network(item)
            widest = DIAL_OUT_PREFIX[network.version]
            if network.prefixlen < widest:
                yield (
                    ("endpoints", name, "identify", index),
                    f"{item} is wider than /{widest}, and context {endpoint.context} can call "
                    f"out through a trunk: anyone in that network could call on the site's "
                    f"bill (give the device's address, or a context that cannot call out)",
                )


def _check_voicemail(site: Site) -> Iterator[Found]:
    """Boxes belong to phones, their numbers are known and unique, and the access extensions
    are free."""
    extensions = site.dialplan.extensions
    numbers: dict[str, str] = {}
    for name, endpoint in site.endpoints.items():
        box = endpoint.voicemail
        if box is None:
            continue
        path: Path = ("endpoints", name, "voicemail")
        if endpoint.auth is None:
            yield path, "a voicemail box needs auth: its phone must register to be called"
            continue
        number = box.number or site.default_mailbox_number(name)
        if number is None:
            yield path, f"give number: no extension in dialplan.extensions rings {name}"
            continue
        where = (*path, "number") if box.number is not None else path
        if number in numbers:
            yield where, f"box number {number} is also endpoint {numbers[number]}'s"
        numbers.setdefault(number, name)
    access = site.voicemail
    for key, number in (("access", access.access), ("access_any", access.access_any)):
        if number in extensions:
            yield ("voicemail", key), f"{number} is also in dialplan.extensions"


def generated_sections(site: Site, file: str) -> set[str]:
    """Section names the renderer writes into `file` (raw snippets must not reuse them)."""
    if file == "pjsip.conf":
        return (
            set(sections.PJSIP_FIXED)
            | set(default_transports(site))
            | {sections.trunk_endpoint(t) for t in site.trunks}
            | set(site.endpoints)
        )
    if file == "extensions.conf":
        names = {*sections.EXTENSIONS_FIXED, *BUILTIN_CONTEXTS}
        names |= {sections.trunk_context(t) for t in site.trunks}
        names |= {sections.ring_group_context(g) for g in site.dialplan.ring_groups}
        names |= {f"screen-{t}" for t in site.trunks}  # render/flows.py screen_context
        names |= {sections.limit_context(n) for n, e in site.endpoints.items() if e.call_limit}
        return names | set(flow_contexts(site))
    if file in ("rtp.conf", "features.conf", "udptl.conf", "ccss.conf", "indications.conf"):
        return {"general"}
    if file == "musiconhold.conf":
        return {"general", "default"}
    return set()


def flow_contexts(site: Site) -> dict[str, tuple[str, str]]:
    """The extensions.conf context of each flow -> (its key under dialplan, its name)."""
    plan = site.dialplan
    out: dict[str, tuple[str, str]] = {}
    for kind, names in (
        ("menu", plan.menus),
        ("time condition", plan.time_conditions),
        ("announcement", plan.announcements),
    ):
        for name in names:
            out[sections.flow_context(kind, name)] = (sections.FLOWS[kind][1], name)
    return out


def _check_raw_sections(site: Site) -> Iterator[Found]:
    for file, text in site.raw.items():
        taken = generated_sections(site, file)
        for header in raw_headers(text):
            if header.name in taken:
                yield ("raw", file), f"section [{header.name}] is generated from the model"
            for base in header.options or ():
                if base.lstrip("+") in taken and base not in ("!", "+"):
                    yield (
                        ("raw", file),
                        f"section [{header.name}] inherits from [{base}], which is generated "
                        "from the model",
                    )


def _check_dialplan(site: Site, suggest: Suggest) -> Iterator[Found]:
    plan = site.dialplan
    groups = plan.ring_groups
    endpoints = site.endpoints
    targets = set(groups) | set(endpoints)

    def target(path: Path, name: str) -> Iterator[Found]:
        if name not in targets:
            yield path, suggest.unknown("endpoint or ring group", name, targets)
        elif name in endpoints and endpoints[name].auth is None:
            yield path, f"endpoint {name} cannot be called: it does not register (no auth)"

    for name in groups.keys() & endpoints.keys():
        yield ("dialplan", "ring_groups", name), f"{name!r} is also an endpoint's name"
    for name, group in groups.items():
        path: Path = ("dialplan", "ring_groups", name)
        for index, member in enumerate(group.endpoints):
            if member not in endpoints:
                yield (*path, "endpoints", index), suggest.unknown("endpoint", member, endpoints)
            elif endpoints[member].auth is None:
                yield (
                    (*path, "endpoints", index),
                    f"endpoint {member} cannot be called: it does not register (no auth)",
                )
        if group.fallback is not None:
            yield from target((*path, "fallback"), group.fallback)
        if group.voicemail is not None:
            if group.fallback is not None:
                yield (
                    (*path, "voicemail"),
                    "give fallback or voicemail, not both (the fallback's own voicemail applies)",
                )
            elif group.voicemail not in endpoints:
                yield (*path, "voicemail"), suggest.unknown("endpoint", group.voicemail, endpoints)
            elif endpoints[group.voicemail].voicemail is None:
                yield (*path, "voicemail"), f"endpoint {group.voicemail} has no voicemail box"
    # A fallback chain must end: a -> b -> a would ring forever. Each group is walked once
    # (colouring), so a long chain costs linear time, not quadratic.
    state: dict[str, int] = {}
    for name in groups:
        chain: list[str] = []
        current: str | None = name
        while current in groups and current not in state:
            state[current] = 1
            chain.append(current)
            current = groups[current].fallback
        if current in groups and state.get(current) == 1 and current in chain:
            loop = chain[chain.index(current) :]
            for at, member in enumerate(loop):
                names = [*loop[at:], *loop[:at], member]
                if len(names) > 9:  # a message stays one short line
                    names = [*names[:4], "...", *names[-4:]]
                shown = " -> ".join(names)
                yield ("dialplan", "ring_groups", member, "fallback"), f"loops: {shown}"
        for member in chain:
            state[member] = 2
    patterns: dict[str, int] = {}
    for index, route in enumerate(plan.outbound):
        path = ("dialplan", "outbound", index)
        if route.trunk not in site.trunks:
            yield (*path, "trunk"), suggest.unknown("trunk", route.trunk, site.trunks)
        if route.pattern in patterns:
            yield (*path, "pattern"), f"same pattern as outbound[{patterns[route.pattern]}]"
        patterns.setdefault(route.pattern, index)
    if plan.doorbell is not None:
        yield from target(("dialplan", "doorbell", "ring"), plan.doorbell.ring)
