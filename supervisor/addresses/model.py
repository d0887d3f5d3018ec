"""Values of the address check: what the pod must hold, what the kernel has, and the verdict."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Family = Literal["ipv6", "ipv4"]

# IFA_F_* from linux/if_addr.h: the flags that decide whether an address can be used.
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40


def family_of(address: IPAddress) -> Family:
    return "ipv6" if address.version == 6 else "ipv4"


class Scope(enum.Enum):
    """What an address means for reachability from the provider (see classify.py)."""

    GLOBAL = "global"
    ULA = "ula"
    LINK_LOCAL = "link-local"
    PRIVATE = "rfc1918"
    CGNAT = "cgnat"
    LOOPBACK = "loopback"
    OTHER = "other"


@dataclass(frozen=True, kw_only=True)
class ExpectedAddress:
    """An address the pod must hold, as a Calico IP pool hands it out (a /128 or a /32)."""

    address: IPAddress
    required: bool = True
    # None means a host prefix (/128, /32): what a Calico pool assigns to a pod.
    prefixlen: int | None = None

    @property
    def family(self) -> Family:
        return family_of(self.address)

    @property
    def expected_prefixlen(self) -> int:
        return self.prefixlen if self.prefixlen is not None else self.address.max_prefixlen

    @classmethod
    def parse(cls, text: str, *, required: bool = True) -> ExpectedAddress:
        """`2001:db8::1` or `2001:db8::1/128` (a prefix length states what the pool gives)."""
        if "/" in text:
            iface = ipaddress.ip_interface(text)
            return cls(address=iface.ip, required=required, prefixlen=iface.network.prefixlen)
        return cls(address=ipaddress.ip_address(text), required=required)


@dataclass(frozen=True, kw_only=True)
class Trunk:
    """A SIP trunk whose provider must see the pod's own address as the source."""

    name: str
    # The provider's addresses or host names; names are resolved at each check.
    hosts: tuple[str, ...]
    # Restrict to one family (a v6-only provider with a dual-stack name); None: every family.
    family: Family | None = None


@dataclass(frozen=True, kw_only=True)
class KernelAddress:
    """One address as netlink reports it."""

    address: IPAddress
    prefixlen: int
    interface: str
    flags: int = 0

    @property
    def tentative(self) -> bool:
        return bool(self.flags & IFA_F_TENTATIVE)

    @property
    def dadfailed(self) -> bool:
        return bool(self.flags & IFA_F_DADFAILED)

    @property
    def deprecated(self) -> bool:
        return bool(self.flags & IFA_F_DEPRECATED)


@dataclass(frozen=True, kw_only=True)
class AddressStatus:
    """An expected address against the kernel: presence, flags, bindability, scope."""

    expected: ExpectedAddress
    present: bool
    interface: str | None = None
    prefixlen: int | None = None
    tentative: bool = False
    dadfailed: bool = False
    deprecated: bool = False
    bindable: bool = False
    bind_error: str | None = None
    scope: Scope = Scope.GLOBAL

    @property
    def usable(self) -> bool:
        """Asterisk can bind a transport to it now (a tentative address fails bind())."""
        return self.present and not self.tentative and not self.dadfailed and self.bindable

    @property
    def state(self) -> str:
        """One word for tables and logs; changes of it are what the monitor logs."""
        if not self.present:
            return "missing"
        if self.dadfailed:
            return "dadfailed"
        if self.tentative:
            return "tentative"
        if not self.bindable:
            return "unbindable"
        if self.deprecated:
            return "deprecated"
        return "usable"

    def to_json(self) -> dict[str, Any]:
        return {
            "address": str(self.expected.address),
            "family": self.expected.family,
            "required": self.expected.required,
            "expected_prefixlen": self.expected.expected_prefixlen,
            "present": self.present,
            "interface": self.interface,
            "prefixlen": self.prefixlen,
            "tentative": self.tentative,
            "dadfailed": self.dadfailed,
            "deprecated": self.deprecated,
            "bindable": self.bindable,
            "bind_error": self.bind_error,
            "scope": self.scope.value,
            "usable": self.usable,
            "state": self.state,
        }


@dataclass(frozen=True, kw_only=True)
class EgressStatus:
    """The source address the kernel selects toward a trunk's provider hosts of one family.

    With several hosts, `provider` and `selected` are those of the first wrong one (or the first
    host when all are right): one status per trunk and family, as the metric has.
    """

    trunk: str
    family: Family
    provider: IPAddress | None
    expected: IPAddress | None
    selected: IPAddress | None
    error: str | None = None

    @property
    def correct(self) -> bool:
        return self.error is None and self.selected is not None and self.selected == self.expected

    def to_json(self) -> dict[str, Any]:
        return {
            "trunk": self.trunk,
            "family": self.family,
            "provider": None if self.provider is None else str(self.provider),
            "expected": None if self.expected is None else str(self.expected),
            "selected": None if self.selected is None else str(self.selected),
            "error": self.error,
            "correct": self.correct,
        }


Severity = Literal["error", "warning"]


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A problem in one line; errors block readiness or break a trunk, warnings deserve a look."""

    severity: Severity
    message: str


@dataclass(frozen=True, kw_only=True)
class Report:
    """The verdict of one check."""

    addresses: tuple[AddressStatus, ...]
    egress: tuple[EgressStatus, ...] = ()
    findings: tuple[Finding, ...] = field(default=())

    @property
    def all_required_usable(self) -> bool:
        return all(s.usable for s in self.addresses if s.expected.required)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.findings

    def status_of(self, address: IPAddress) -> AddressStatus | None:
        return next((s for s in self.addresses if s.expected.address == address), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "all_required_usable": self.all_required_usable,
            "addresses": [s.to_json() for s in self.addresses],
            "egress": [e.to_json() for e in self.egress],
            "findings": [{"severity": f.severity, "message": f.message} for f in self.findings],
        }
