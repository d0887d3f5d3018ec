"""Checks of the phone keys (pickup code, pickup groups) against the rest of the site."""

from __future__ import annotations

from supervisor.site.model import Site
from supervisor.site.yamlsource import Path


def check(site: Site) -> list[tuple[Path, str]]:
    """Every problem of the phone features: the pickup code must be a free number."""
    found: list[tuple[Path, str]] = []
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
