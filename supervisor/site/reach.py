"""How far identify reaches: who may call without a password, and from where.

An identify entry lets every address in it place calls as its endpoint, without a password. So
the rules on width hold for every way a site can write one, the typed `identify:` lists and the
raw pjsip.conf sections alike (`match =` of an identify section, `permit =`/`contact_permit =`
of an ACL or endpoint: an ACL that permits the internet undoes the security guard's deny list):

- each entry: no wider than /16 (IPv4) or /32 (IPv6) anywhere, and no wider than /24 or /48
  where its endpoint's context can call out through a trunk (checks.dial_out_contexts);
- in all: the addresses that can call out without a password, overlaps merged, are at most
  limits.MAX_DIAL_OUT_ADDRESSES per family (256 LANs of /24, or of /48). A per-entry rule alone
  is defeated by many entries: 1,024 endpoints with 64 /24s each cover a whole /8.

The total is counted by sorting the networks once and merging the overlaps: n log n.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from supervisor.confparse import Header, Setting
from supervisor.site import ipnet
from supervisor.site.limits import ANY_IDENTIFY_PREFIX, DIAL_OUT_PREFIX, MAX_DIAL_OUT_ADDRESSES
from supervisor.site.model import Site
from supervisor.site.raw import raw_items
from supervisor.site.yamlsource import Path

Found = tuple[Path, str]
#: Raw settings that admit addresses: identify's match, and the permit lists of ACLs.
MATCH_SETTINGS = ("match",)
PERMIT_SETTINGS = ("permit", "contact_permit")
#: A raw section without `context =` (res_pjsip's default).
DEFAULT_CONTEXT = "default"


class Reach(NamedTuple):
    """One network that may call out without a password, and where it is written."""

    net: ipnet.Net
    path: Path
    text: str


class _Section(NamedTuple):
    line: int
    settings: list[Setting]


def _sections(text: str) -> dict[str, list[_Section]]:
    """The raw snippet's sections by name (a name may be opened more than once)."""
    sections: dict[str, list[_Section]] = {}
    current: list[Setting] | None = None
    for item in raw_items(text):
        if isinstance(item, Header):
            current = []
            sections.setdefault(item.name, []).append(_Section(item.line, current))
        elif isinstance(item, Setting) and current is not None:
            current.append(item)
    return sections


#: The settings of a section (or of its templates) that decide where an identify reaches.
_INHERITED = ("endpoint", "context")


def _effective(text: str) -> dict[str, dict[str, str]]:
    """`endpoint` and `context` of every section of a raw snippet, templates included, as
    Asterisk reads them: a template is copied into a section when the section is defined (it
    must come first), so one pass in file order resolves any depth in linear time, without
    recursion."""
    effective: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for item in raw_items(text):
        if isinstance(item, Header):
            current = effective.setdefault(item.name, {})
            for base in item.options or ():
                if base not in ("!", "+"):
                    current.update(effective.get(base.lstrip("+"), {}))
        elif isinstance(item, Setting) and current is not None and item.name in _INHERITED:
            current[item.name] = item.value
    return effective


def _raw_can_call_out(
    site: Site, effective: dict[str, dict[str, str]], endpoint: str | None, dial_out: set[str]
) -> bool:
    """Whether the endpoint a raw identify names can call out (unknown or not named, as in a
    template: assume it can)."""
    if endpoint in site.trunks:
        return False
    if endpoint in site.endpoints:
        return site.endpoints[endpoint].context in dial_out
    if endpoint is not None and endpoint in effective:
        return effective[endpoint].get("context", DEFAULT_CONTEXT) in dial_out
    return True


def _entry_problem(text: str, widest: int | None) -> tuple[ipnet.Net | None, str | None]:
    """The network of one raw list item, or why it cannot be one."""
    try:
        net = ipnet.parse_network(text)
    except ValueError as exc:
        if "/" in text and "." in text.partition("/")[2]:
            return None, f"{text}: give a prefix length (/24), not a netmask"
        return None, f"{text} is not an IP address or network ({exc})"
    limit = ANY_IDENTIFY_PREFIX[net.version] if widest is None else widest
    if net.prefixlen < limit:
        return net, f"{text} is wider than /{limit}: anyone in it could use it without a password"
    why = ipnet.unusable(net)
    if why is not None:
        return None, f"{text} {why}"
    return net, None


def _raw_reach(site: Site, dial_out: set[str], out: list[Reach]) -> Iterator[Found]:
    text = site.raw.get("pjsip.conf")
    files = [("pjsip.conf", text)] if text else []
    if site.raw.get("acl.conf"):
        files.append(("acl.conf", site.raw["acl.conf"]))
    for file, snippet in files:
        where: Path = ("raw", file)
        sections = _sections(snippet)
        effective = _effective(snippet)
        for name, parts in sections.items():
            endpoint = effective.get(name, {}).get("endpoint") if file == "pjsip.conf" else None
            reaches = file == "pjsip.conf" and _raw_can_call_out(
                site, effective, endpoint, dial_out
            )
            for part in parts:
                for setting in part.settings:
                    matching = setting.name in MATCH_SETTINGS and file == "pjsip.conf"
                    if not matching and setting.name not in PERMIT_SETTINGS:
                        continue
                    calls_out = matching and reaches
                    for item in (i.strip() for i in setting.value.split(",")):
                        if not item:
                            continue
                        net, why = _entry_problem(item, None)
                        if net is not None and why is None and calls_out:
                            widest = DIAL_OUT_PREFIX[net.version]
                            who = f"endpoint {endpoint}" if endpoint else "its endpoint"
                            if net.prefixlen < widest:
                                why = (
                                    f"{item} is wider than /{widest}, and {who} can call out "
                                    "through a trunk: anyone in it could call on the site's bill"
                                )
                        if why is not None:
                            yield where, f"line {setting.line} ({setting.name} in [{name}]): {why}"
                        elif net is not None and calls_out:
                            out.append(Reach(net, where, item))


def problems(site: Site, dial_out: set[str]) -> Iterator[Found]:
    """Raw identify and ACL entries against the per-entry rules, and the site's total reach
    into contexts that can call out against its budget (typed entries are checked per entry
    by the model and checks._check_dial_out)."""
    reach: list[Reach] = []
    for name, endpoint in site.endpoints.items():
        if endpoint.context in dial_out:
            for index, item in enumerate(endpoint.identify):
                reach.append(
                    Reach(ipnet.parse_network(item), ("endpoints", name, "identify", index), item)
                )
    yield from _raw_reach(site, dial_out, reach)
    yield from _budget(reach)


def _budget(reach: Iterable[Reach]) -> Iterator[Found]:
    by_version: dict[int, list[Reach]] = {4: [], 6: []}
    for entry in reach:
        by_version[entry.net.version].append(entry)
    for version, entries in by_version.items():
        total = covered(e.net for e in entries)
        budget = MAX_DIAL_OUT_ADDRESSES[version]
        if total <= budget:
            continue
        # Located at the widest entry (the first written of the widest): the one to narrow.
        widest = min(entries, key=lambda e: e.net.prefixlen)
        per = DIAL_OUT_PREFIX[version]
        unit = 1 << (ipnet.BITS[version] - per)
        yield (
            widest.path,
            f"the identify entries of endpoints that can call out reach {total / unit:,.0f} "
            f"networks of /{per} (IPv{version}) in all, at most {budget // unit}: anyone in them "
            "calls on the site's bill without a password (give these devices passwords, or a "
            "context that cannot call out)",
        )


def covered(nets: Iterable[ipnet.Net]) -> int:
    """How many addresses the networks cover together (overlaps counted once): one sort."""
    total, end = 0, -1
    for start, last in sorted((n.start, n.end) for n in nets):
        if last <= end:
            continue
        total += last - max(start, end + 1) + 1
        end = last
    return total
