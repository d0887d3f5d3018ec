"""extensions.conf: internal extensions, ring groups with fallback, inbound DIDs per trunk,
outbound patterns to trunks, and the doorbell.

Contexts: `extensions` (internal numbers), `outbound` (patterns to trunks), `internal`
(both: the default for phones), `local` (internal numbers only), `doorbell`, `from-<trunk>` and
`ring-<group>`. Every value written here comes from a grammar without `,()$;"\\` and spaces.
"""

from __future__ import annotations

from supervisor.render.conf import GENERATED, document, section
from supervisor.site.model import Site

Line = tuple[str, str]
# Anything a doorbell may dial: one character or more, digits, letters, * # +.
DOORBELL_EXTENSIONS = ("_[0-9a-zA-Z*#+]!", "s")


def _priorities(exten: str, apps: list[str]) -> list[Line]:
    lines = [("exten", f"{exten},1,{apps[0]}")]
    lines += [("same", f"n,{app}") for app in apps[1:]]
    return lines


def _ring(site: Site, target: str) -> list[str]:
    """Applications that ring `target`: a ring group's context or one endpoint."""
    if target in site.dialplan.ring_groups:
        return [f"Goto(ring-{target},s,1)"]
    return [f"Dial(PJSIP/{target},{site.dialplan.ring_time})", "Hangup()"]


def _context(name: str, lines: list[Line]) -> str:
    return section(name, lines, arrow=True)


def render_extensions(site: Site) -> str:
    plan = site.dialplan
    sections = [
        section(
            "general",
            [
                ("static", "yes"),
                ("writeprotect", "yes"),
                ("autofallthrough", "yes"),
                ("clearglobalvars", "yes"),
            ],
        ),
        section("globals", []),
    ]
    lines: list[Line] = []
    for number, target in plan.extensions.items():
        lines += _priorities(number, _ring(site, target))
    sections.append(_context("extensions", lines))
    lines = []
    for route in plan.outbound:
        trunk = site.trunks[route.trunk]
        digits = f"${{EXTEN:{route.strip}}}" if route.strip else "${EXTEN}"
        number = f"{route.prepend}{digits}"
        apps = []
        if trunk.caller_id is not None:
            apps.append(f"Set(CALLERID(num)={trunk.caller_id.number})")
            if trunk.caller_id.name is not None:
                apps.append(f"Set(CALLERID(name)={trunk.caller_id.name})")
        apps += [f"Dial(PJSIP/{number}@{route.trunk})", "Hangup()"]
        lines += _priorities(route.pattern, apps)
    sections.append(_context("outbound", lines))
    sections.append(_context("internal", [("include", "extensions"), ("include", "outbound")]))
    sections.append(_context("local", [("include", "extensions")]))
    lines = []
    if plan.doorbell is not None:
        for exten in DOORBELL_EXTENSIONS:
            lines += _priorities(exten, _ring(site, plan.doorbell.ring))
    sections.append(_context("doorbell", lines))
    for trunk_name, trunk in site.trunks.items():
        lines = []
        for did in trunk.dids:
            routed = plan.inbound.get(did)
            lines += _priorities(did, _ring(site, routed) if routed else ["Hangup(1)"])
        sections.append(_context(f"from-{trunk_name}", lines))
    for name, group in plan.ring_groups.items():
        members = "&".join(f"PJSIP/{member}" for member in group.endpoints)
        apps = [f"Dial({members},{group.ring_time})"]
        apps += _ring(site, group.fallback) if group.fallback else ["Hangup()"]
        sections.append(_context(f"ring-{name}", _priorities("s", apps)))
    return document(GENERATED, sections)
