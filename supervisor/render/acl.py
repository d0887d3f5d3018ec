"""The deny ACL that makes Asterisk itself refuse banned sources (res_pjsip_acl); the ban list
comes from supervisor.security, the rendering is the renderer's.

res_pjsip_acl checks every incoming request against every `type=acl` object in pjsip.conf
before any other SIP processing (module priority 1): a request from a denied source gets a
stateless 403 (ACKs get nothing), with no endpoint lookup, no digest challenge and no security
event. An ACL with only `deny` rules allows everything else (Asterisk's ACL default is allow,
and the last matching rule wins). No bans: no section, so the common case renders nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable

from supervisor.render.conf import section
from supervisor.security.events import IPAddress

SECTION = "supervisor-blocked"


def deny_entry(address: IPAddress) -> str:
    """A single-address network in the canonical form (`203.0.113.5/32`, `2001:db8::5/128`)."""
    return f"{address.compressed}/{address.max_prefixlen}"


def acl_section(addresses: Iterable[IPAddress]) -> str | None:
    ordered = sorted(set(addresses), key=lambda a: (a.version, a))
    if not ordered:
        return None
    return section(SECTION, [("type", "acl"), *(("deny", deny_entry(a)) for a in ordered)])
