"""The address monitor follows the live config (no netlink: its verdicts are set by hand)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from supervisor.addresses.model import AddressStatus, ExpectedAddress, Family, Report
from supervisor.addresses.monitor import AddressMonitor


@dataclass(frozen=True)
class Addresses:
    ipv6: str | None
    ipv4: str | None = None


@dataclass(frozen=True)
class TrunkEntry:
    hosts: tuple[str, ...]
    family: Family | None = None


@dataclass(frozen=True)
class Site:
    addresses: Addresses
    trunks: dict[str, TrunkEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    site: Site


def usable(address: str) -> AddressStatus:
    expected = ExpectedAddress(address=ipaddress.ip_address(address))
    return AddressStatus(expected=expected, present=True, bindable=True)


def test_a_new_address_gates_readiness_until_a_check_covers_it() -> None:
    """After a config with a new pod address goes live, readiness waits for a check of it (the
    old verdict does not count), and /status says it is not checked yet; trunks follow too."""
    monitor = AddressMonitor()
    monitor.on_config(Applied(Site(Addresses("2001:db8::1"), {"p": TrunkEntry(("2001:db8::a",))})))
    monitor.report = Report(addresses=(usable("2001:db8::1"),))
    assert monitor.all_required_usable
    monitor.on_config(Applied(Site(Addresses("2001:db8::2"), {"p": TrunkEntry(("2001:db8::b",))})))
    assert [str(e.address) for e in monitor.expected] == ["2001:db8::2"]
    assert [t.hosts for t in monitor.trunks] == [("2001:db8::b",)]
    assert not monitor.all_required_usable
    pending = [c for c in monitor.checks() if c.name == "address 2001:db8::2"]
    assert [(c.ok, c.detail, c.gates_readiness) for c in pending] == [
        (False, "not checked yet", True)
    ]
    monitor.report = Report(addresses=(usable("2001:db8::2"),))
    assert monitor.all_required_usable


def test_the_override_replaces_the_sites_addresses_but_not_its_trunks() -> None:
    """--expect-address wins over the site's addresses on every applied config."""
    override = (ExpectedAddress.parse("2001:db8::99"),)
    monitor = AddressMonitor(override=override)
    monitor.on_config(Applied(Site(Addresses("2001:db8::1"), {"p": TrunkEntry(("2001:db8::a",))})))
    assert monitor.expected == override
    assert [t.name for t in monitor.trunks] == ["p"]
