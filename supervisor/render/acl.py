"""The deny ACL that makes Asterisk itself refuse banned sources (res_pjsip_acl); the ban list
comes from supervisor.security, the rendering is the renderer's.

The bans are a named ACL in acl.conf, and pjsip.conf holds one `type=acl` object that refers to
it (`acl = supervisor-blocked`) while there are bans. A change of the ban list then rewrites
acl.conf alone and reloads module `acl` (main/named_acl.c): that reload publishes a named-ACL
change, on which res_pjsip_acl re-reads its `type=acl` objects (`acl_change_stasis_cb`, a forced
reload of that one sorcery type) and copies the new rules. Nothing else of res_pjsip reloads:
measured in bench/reports/attack.md, against a full `module reload res_pjsip.so` per batch.

res_pjsip_acl checks every incoming request against every `type=acl` object before any other
SIP processing (module priority 1): a request from a denied source gets a stateless 403 (ACKs
get nothing), with no endpoint lookup, no digest challenge and no security event. An ACL with
only `deny` rules allows everything else (Asterisk's ACL default is allow, and the last matching
rule wins). A named ACL that does not exist denies everything (acl.c marks it invalid), so the
pjsip.conf object exists only together with the acl.conf section, and a change that adds or
removes both reloads `acl` before `res_pjsip.so` (the plan's file order). No bans: neither.

The deny rules are written several to a line (`deny = a,b,c`: no space, append_ha_core does
not strip one): Asterisk appends each
`deny` value to the end of the rule list by walking it (append_ha_core), so one rule per line
costs n²/2 steps to parse; packed, n²/2 divided by the rules per line. A line stays below
LINE_CHARS, far under the 8 KiB line buffer after which Asterisk skips a line.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from supervisor.render.conf import GENERATED, document, section
from supervisor.security.events import IPNetwork, Key, NetworkList, network_text, order
from supervisor.site.sections import BLOCKED_ACL

SECTION = BLOCKED_ACL
#: Longest `deny = ...` value written (Asterisk skips a config line of 8190 bytes or more).
LINE_CHARS = 4000


def deny_entry(source: IPNetwork, key: Key | None = None) -> str:
    """A network in the canonical form with its prefix length always written (`203.0.113.5/32`,
    `2001:db8:bad::/64`): Asterisk's ACL parser takes address/CIDR for both families. Cached:
    the whole list is rendered at every ban change (security.events.network_text)."""
    return network_text(source, key)


def ordered(sources: Iterable[IPNetwork]) -> list[IPNetwork]:
    """De-duplicated, IPv4 before IPv6, ascending."""
    return [n for _, n in _keyed(sources)]


def _keyed(sources: Iterable[IPNetwork]) -> list[tuple[Key, IPNetwork]]:
    # By integer keys (hashing or comparing network objects runs Python code each time, which
    # dominated rendering 10,000 bans), and at once when they come in that order already (the
    # guard's list does).
    keyed = [(order(n), n) for n in sources]
    if all(a[0] < b[0] for a, b in itertools.pairwise(keyed)):
        return keyed
    return sorted(dict(keyed).items())


def pack(entries: Iterable[str], limit: int = LINE_CHARS) -> list[str]:
    """The entries joined by `,` into values of at most `limit` characters (one entry longer
    than that gets a value of its own)."""
    values: list[str] = []
    line: list[str] = []
    size = 0
    for entry in entries:
        extra = len(entry) + (1 if line else 0)
        if line and size + extra > limit:
            values.append(",".join(line))
            line, size = [], 0
            extra = len(entry)
        line.append(entry)
        size += extra
    if line:
        values.append(",".join(line))
    return values


#: pjsip.conf's ACL object, referring to the named ACL of acl.conf (while there are bans).
ACL_OBJECT = section(SECTION, [("type", "acl"), ("acl", SECTION)])


def acl_section(blocked: Sequence[IPNetwork]) -> str | None:
    """pjsip.conf's ACL object, referring to the named ACL of acl.conf; None without bans."""
    return ACL_OBJECT if blocked else None


def render_acl(blocked: Iterable[IPNetwork]) -> str:
    """acl.conf: the named ACL `supervisor-blocked` with every ban as a deny rule (sorted,
    de-duplicated, packed); an empty file without bans. The guard's NetworkList comes sorted
    with its texts: taken as they are (10,000 bans re-sorted and re-formatted for every
    change was most of an apply under a flood)."""
    if isinstance(blocked, NetworkList):
        entries = list(blocked.texts)
    else:
        entries = [deny_entry(n, key) for key, n in _keyed(blocked)]
    if not entries:
        return document(GENERATED, [])
    return document(GENERATED, [section(SECTION, [("deny", v) for v in pack(entries)])])
