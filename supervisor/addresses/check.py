"""One check: expected addresses and trunks against what the kernel has, as a Report.

`assess` is pure given the kernel's addresses and a Probe (bind and source selection), so the
verdict logic is tested without root; `check_async` adds the I/O (`check` runs it for callers
without an event loop).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pyroute2 import AsyncIPRoute

from supervisor.addresses import kernel
from supervisor.addresses.classify import NAT_WARNING, classify, nat_warning
from supervisor.addresses.model import (
    AddressStatus,
    EgressStatus,
    ExpectedAddress,
    Family,
    Finding,
    IPAddress,
    KernelAddress,
    Report,
    Scope,
    Trunk,
    family_of,
)


class Probe(Protocol):
    """The two socket questions a check asks the kernel (a seam for tests without root)."""

    def bind(self, address: IPAddress) -> str | None:
        """None if bindable, else the reason."""

    def source(self, destination: IPAddress) -> IPAddress:
        """The selected source address; OSError if there is no route."""


class KernelProbe:
    def bind(self, address: IPAddress) -> str | None:
        return kernel.bind_probe(address)

    def source(self, destination: IPAddress) -> IPAddress:
        return kernel.selected_source(destination)


@dataclass(frozen=True, kw_only=True)
class ResolvedTrunk:
    """A trunk with its provider's address per family, or why the lookup failed."""

    trunk: Trunk
    providers: dict[Family, tuple[IPAddress, ...]] = field(default_factory=dict)
    error: str | None = None


def resolve_trunk(trunk: Trunk) -> ResolvedTrunk:
    found: dict[Family, list[IPAddress]] = {}
    failed = []
    for host in trunk.hosts:
        try:
            for family, address in kernel.resolve(host, trunk.family).items():
                if trunk.family is None or family == trunk.family:
                    found.setdefault(family, []).append(address)
        except OSError as exc:
            failed.append(f"cannot resolve {host}: {exc}")
    if not found:
        wanted = f" {trunk.family}" if trunk.family else ""
        why = "; ".join(failed) or f"{', '.join(trunk.hosts)} has no{wanted} address"
        return ResolvedTrunk(trunk=trunk, error=why)
    # A host that does not resolve while others do is left to SIP's own failover.
    return ResolvedTrunk(trunk=trunk, providers={f: tuple(a) for f, a in found.items()})


def _status(
    expected: ExpectedAddress, kernel_addrs: Sequence[KernelAddress], probe: Probe
) -> AddressStatus:
    matches = [k for k in kernel_addrs if k.address == expected.address]
    scope = classify(expected.address)
    if not matches:
        return AddressStatus(expected=expected, present=False, scope=scope)
    # The same address on two interfaces: judge the best copy (the kernel can use it).
    best = min(matches, key=lambda k: (k.dadfailed, k.tentative, k.deprecated))
    bind_error = probe.bind(expected.address)
    return AddressStatus(
        expected=expected,
        present=True,
        interface=best.interface,
        prefixlen=best.prefixlen,
        tentative=best.tentative,
        dadfailed=best.dadfailed,
        deprecated=best.deprecated,
        bindable=bind_error is None,
        bind_error=bind_error,
        scope=scope,
    )


_WHY = {
    "missing": "not on any interface",
    "tentative": "tentative (IPv6 duplicate address detection not finished; bind() fails)",
    "dadfailed": "duplicate address detection failed (another host holds it)",
}


def _address_findings(status: AddressStatus) -> list[Finding]:
    exp = status.expected
    name = f"{exp.address} ({exp.family}{', required' if exp.required else ''})"
    where = f" on {status.interface}" if status.interface else ""
    found = []
    if not status.usable:
        why = _WHY.get(status.state, f"cannot be bound: {status.bind_error}")
        found.append(
            Finding(
                severity="error" if exp.required else "warning", message=f"{name}: {why}{where}"
            )
        )
    if status.present and status.prefixlen != exp.expected_prefixlen:
        found.append(
            Finding(
                severity="warning",
                message=(
                    f"{name}: /{status.prefixlen}{where}, expected /{exp.expected_prefixlen} "
                    "as the Calico pool gives it"
                ),
            )
        )
    if status.deprecated:
        found.append(
            Finding(
                severity="warning",
                message=f"{name}: deprecated{where}; the kernel prefers other source addresses",
            )
        )
    if status.scope is not Scope.GLOBAL:
        found.append(
            Finding(severity="warning", message=f"{name}: {status.scope.value}: {NAT_WARNING}")
        )
    return found


def _probe_source(
    provider: IPAddress, mine: IPAddress | None, probe: Probe
) -> tuple[IPAddress, IPAddress | None, str | None]:
    try:
        selected = probe.source(provider)
    except OSError as exc:
        return provider, None, f"no route to {provider}: {exc.strerror or exc}"
    if mine is None:
        return (
            provider,
            selected,
            f"the pod has no expected {family_of(provider)} address for a provider at {provider}",
        )
    if selected != mine:
        return (
            provider,
            selected,
            (f"the kernel selects {selected} as the source toward {provider}, not {mine}"),
        )
    return provider, selected, None


def _egress(
    resolved: ResolvedTrunk, expected: Sequence[ExpectedAddress], probe: Probe
) -> list[EgressStatus]:
    def own(family: Family) -> IPAddress | None:
        # The pod's address of that family: a required one first, as that is what Asterisk binds.
        of_family = sorted(
            (e for e in expected if e.family == family), key=lambda e: not e.required
        )
        return of_family[0].address if of_family else None

    name = resolved.trunk.name
    if resolved.error is not None:
        families: list[Family] = (
            [resolved.trunk.family]
            if resolved.trunk.family
            else sorted({e.family for e in expected})
        )
        return [
            EgressStatus(
                trunk=name,
                family=f,
                provider=None,
                expected=own(f),
                selected=None,
                error=resolved.error,
            )
            for f in families
        ]
    result = []
    for family, providers in sorted(resolved.providers.items()):
        mine = own(family)
        probes = [_probe_source(p, mine, probe) for p in providers]
        # The first wrong host speaks for the trunk; if none is wrong, the first host does.
        provider, selected, error = next((p for p in probes if p[2] is not None), probes[0])
        result.append(
            EgressStatus(
                trunk=name,
                family=family,
                provider=provider,
                expected=mine,
                selected=selected,
                error=error,
            )
        )
    return result


def assess(
    expected: Sequence[ExpectedAddress],
    trunks: Sequence[ResolvedTrunk],
    kernel_addrs: Sequence[KernelAddress],
    probe: Probe,
) -> Report:
    """The verdict, from the kernel's addresses and the probe's answers."""
    statuses = tuple(_status(e, kernel_addrs, probe) for e in expected)
    findings: list[Finding] = []
    for status in statuses:
        findings.extend(_address_findings(status))
    egress = tuple(e for t in trunks for e in _egress(t, expected, probe))
    findings.extend(
        Finding(severity="error", message=f"trunk {e.trunk} ({e.family}): {e.error}")
        for e in egress
        if e.error is not None
    )
    for family in sorted({e.family for e in egress}):
        warning = nat_warning(family, kernel_addrs)
        if warning is not None:
            findings.append(Finding(severity="warning", message=warning))
    return Report(addresses=statuses, egress=egress, findings=tuple(findings))


# A check reads the addresses, then probes: an address removed in between would show as
# "present but unbindable". Reading again and retrying when the two reads differ keeps the verdict
# to one consistent kernel state (bounded: a flapping interface still gets an answer).
_CONSISTENT_ATTEMPTS = 3


def check(
    expected: Sequence[ExpectedAddress], trunks: Sequence[Trunk], probe: Probe | None = None
) -> Report:
    """One blocking check in the calling thread's network namespace (the CLI's): `check_async`
    on a netlink socket of its own, in a loop of its own.

    Not for a thread with a running event loop: use `check_async` or the monitor there.
    """

    async def once() -> Report:
        ipr = AsyncIPRoute()
        try:
            return await check_async(ipr, expected, trunks, probe)
        finally:
            ipr.close()

    return asyncio.run(once())


async def check_async(
    ipr: AsyncIPRoute,
    expected: Sequence[ExpectedAddress],
    trunks: Sequence[Trunk],
    probe: Probe | None = None,
) -> Report:
    """One check on an asyncio netlink socket; host names are resolved off the event loop."""
    resolved = []
    for trunk in trunks:
        if all(_is_literal(h) for h in trunk.hosts):
            resolved.append(resolve_trunk(trunk))
        else:
            resolved.append(await asyncio.to_thread(resolve_trunk, trunk))
    before = await kernel.read_addresses_async(ipr)
    for _ in range(_CONSISTENT_ATTEMPTS):
        report = assess(expected, resolved, before, probe or KernelProbe())
        after = await kernel.read_addresses_async(ipr)
        if after == before:
            break
        before = after
    return report


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
