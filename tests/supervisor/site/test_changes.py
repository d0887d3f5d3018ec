"""restart_required: the transport changes a res_pjsip reload cannot apply."""

from __future__ import annotations

from tests.supervisor.site.sites import base, load_dict


def test_no_reason_for_reloadable_changes() -> None:
    """Changing endpoints, trunks and the dialplan needs no restart."""
    old = load_dict(base()).site
    changed = base()
    changed["endpoints"]["desk"]["max_contacts"] = 3
    changed["dialplan"]["extensions"]["12"] = "desk"
    assert restart_required_of(old, load_dict(changed).site) == []


def test_bind_port_protocol_and_presence_changes_need_a_restart() -> None:
    """A new address, port or protocol, or a transport added or removed, needs a restart."""
    old = load_dict(base()).site
    new = base()
    new["addresses"]["ipv6"] = "2001:db8:e8b1::1:2"
    new["transports"] = {
        "udp6": {"family": "ipv6"},
        "tcp6": {"family": "ipv6", "protocol": "tcp"},
        "udp4-alt": {"family": "ipv4", "port": 5070},
    }
    reasons = restart_required_of(old, load_dict(new).site)
    assert reasons == [
        "transport tcp6 added",
        "transport udp4 removed",
        "transport udp4-alt added",
        "transport udp6 changed: udp [2001:db8:e8b1::1:1]:5060 -> udp [2001:db8:e8b1::1:2]:5060",
    ]


def restart_required_of(old: object, new: object) -> list[str]:
    from supervisor.site.changes import restart_required
    from supervisor.site.model import Site

    assert isinstance(old, Site)
    assert isinstance(new, Site)
    return restart_required(old, new)
