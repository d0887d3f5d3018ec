"""Checks of the phone features against the rest of the site: the pickup code is free, a
phone behind NAT keeps its mapping open and takes no direct media."""

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
    pickup = site.dialplan.pickup
    if pickup is None:
        return found
    taken = {
        site.voicemail.access: "voicemail.access",
        site.voicemail.access_any: "voicemail.access_any",
    }
    if pickup in site.dialplan.extensions:
        found.append((("dialplan", "pickup"), f"{pickup} is also in dialplan.extensions"))
    elif pickup in taken and site.mailboxes():
        found.append((("dialplan", "pickup"), f"{pickup} is also {taken[pickup]}"))
    return found
