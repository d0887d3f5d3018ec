"""Which Asterisk module reloads which config file, and which changes need a restart instead."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from supervisor.reload import conffile


def affected_modules(
    changed: Iterable[str], mapping: Mapping[str, str | None]
) -> tuple[list[str], list[str]]:
    """(modules to reload in a stable order, files whose change needs a restart). `mapping` is
    the renderer's MODULE_OF_FILE: file -> module whose Reload re-reads it (None: start-up only;
    unknown files count as start-up only)."""
    modules: list[str] = []
    restart: list[str] = []
    for name in sorted(changed):
        module = mapping.get(name)
        if module is None:
            restart.append(name)
        elif module not in modules:
            modules.append(module)
    return modules, restart


def transport_changes(old: str | None, new: str | None) -> list[str]:
    """PJSIP transports that were added, removed or changed between two pjsip.conf texts:
    Asterisk keeps a transport's previous values on reload ("not reloadable")."""
    if old is None or new is None:
        return []
    before = conffile.objects(old, "transport")
    after = conffile.objects(new, "transport")
    reasons = []
    for name in sorted(set(before) | set(after)):
        if name not in after:
            reasons.append(f"transport {name} removed")
        elif name not in before:
            reasons.append(f"transport {name} added")
        else:
            was = dict(before[name].options)
            now = dict(after[name].options)
            keys = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
            if keys:
                reasons.append(f"transport {name} changed: {', '.join(keys)}")
    return reasons


def registrations_with_changed_auth(old: str | None, new: str | None) -> list[str]:
    """Outbound registrations, unchanged themselves, whose outbound_auth object changed."""
    if old is None or new is None:
        return []
    auths_before = conffile.objects(old, "auth")
    auths_after = conffile.objects(new, "auth")
    regs_before = conffile.objects(old, "registration")
    out = []
    for name, reg in conffile.objects(new, "registration").items():
        previous = regs_before.get(name)
        if previous is None or previous.options != reg.options:
            continue  # new or changed: Asterisk re-registers it by itself
        for auth in _names(reg.get("outbound_auth")):
            before, after = auths_before.get(auth), auths_after.get(auth)
            if (before.options if before else None) != (after.options if after else None):
                out.append(name)
                break
    return out


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]
