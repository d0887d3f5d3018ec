"""Which differences between two sites Asterisk cannot apply by a reload."""

from __future__ import annotations

from supervisor.site.model import Site, Transport


def _bind(site: Site, transport: Transport) -> str:
    address = site.addresses.of(transport.family) if transport.bind == "address" else None
    if address is None:
        address = "::" if transport.family == "ipv6" else "0.0.0.0"
    host = f"[{address}]" if transport.family == "ipv6" else address
    return f"{transport.protocol} {host}:{transport.port}"


def restart_required(old: Site, new: Site) -> list[str]:
    """Reasons (one line each) why going from `old` to `new` needs an Asterisk restart: res_pjsip
    keeps a transport's bind address, port and protocol on reload ("not fully reloadable")."""
    reasons = []
    for name in sorted(old.transports.keys() | new.transports.keys()):
        if name not in new.transports:
            reasons.append(f"transport {name} removed")
        elif name not in old.transports:
            reasons.append(f"transport {name} added")
        else:
            before = _bind(old, old.transports[name])
            after = _bind(new, new.transports[name])
            if before != after:
                reasons.append(f"transport {name} changed: {before} -> {after}")
    return reasons
