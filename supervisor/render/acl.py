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
from supervisor.security.events import IPNetwork
from supervisor.site.sections import BLOCKED_ACL

SECTION = BLOCKED_ACL


def deny_entry(source: IPNetwork) -> str:
    """A network in the canonical form with its prefix length always written (`203.0.113.5/32`,
    `2001:db8:bad::/64`): Asterisk's ACL parser takes address/CIDR for both families."""
    return f"{source.network_address.compressed}/{source.prefixlen}"


def acl_section(sources: Iterable[IPNetwork]) -> str | None:
    ordered = sorted(set(sources), key=lambda n: (n.version, n))
    if not ordered:
        return None
    return section(SECTION, [("type", "acl"), *(("deny", deny_entry(n)) for n in ordered)])
