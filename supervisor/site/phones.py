"""Checks of the phone features against the rest of the site: the pickup code is free, a
phone behind NAT keeps its mapping open and takes no direct media, a PBX behind NAT names an
external address of a family the pod has, other than its own."""

from __future__ import annotations

from supervisor.site.model import Site
from supervisor.site.yamlsource import Path


def check(site: Site) -> list[tuple[Path, str]]:
    """Every problem of the phone features: the pickup code must be a free number."""
    found: list[tuple[Path, str]] = []
    for name, endpoint in site.endpoints.items():
        behind = site.nat.phones if endpoint.nat is None else endpoint.nat
        path: Path = ("endpoints", name)
        if behind and endpoint.direct_media:
            found.append(((*path, "direct_media"), "a phone behind NAT cannot take media directly"))
        if behind and endpoint.auth is not None and endpoint.qualify == 0:
            found.append(
                (
                    (*path, "qualify"),
                    "a phone behind NAT needs qualify (e.g. 25): it keeps its router's "
                    "mapping open for calls to it",
                )
            )
    pbx = site.nat.pbx
    for family in ("ipv6", "ipv4") if pbx is not None else ():
        external = pbx.external(family) if pbx is not None else None
        key: Path = ("nat", "pbx", f"external_{family}")
        if external is None:
            continue
        own = site.addresses.of(family)
        if own is None:
            found.append((key, f"the pod has no {family} address to forward to"))
        elif own == external:
            found.append((key, "is the pod's own address: the PBX is then not behind NAT"))
    pickup = site.dialplan.pickup
    if pickup is None:
        return found
    taken = {
        site.voicemail.access: "voicemail.access",
        site.voicemail.access_any: "voicemail.access_any",
    }
    if pickup in site.dialplan.extensions:
        found.append((("dialplan", "pickup"), f"{pickup} is also in dialplan.extensions"))
    elif pickup in taken and any(e.voicemail for e in site.endpoints.values()):
        found.append((("dialplan", "pickup"), f"{pickup} is also {taken[pickup]}"))
    return found
