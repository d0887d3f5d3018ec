"""The pod's expected IPv6/IPv4 addresses: presence, flags, bindability, egress source; live.

The entrypoint builds an AddressMonitor, runs `run()` as a task, gates Asterisk's start on
`wait_usable(timeout)` and reads `all_required_usable` for readiness; `check()` is the one-shot
form the `addresses` command uses.
"""

from __future__ import annotations

from supervisor.addresses.check import Probe, assess, check, check_async
from supervisor.addresses.classify import NAT_WARNING, classify
from supervisor.addresses.model import (
    AddressStatus,
    EgressStatus,
    ExpectedAddress,
    Family,
    Finding,
    KernelAddress,
    Report,
    Scope,
    Trunk,
)
from supervisor.addresses.monitor import AddressesNotUsable, AddressMonitor, RecoveryCallback

__all__ = [
    "NAT_WARNING",
    "AddressMonitor",
    "AddressStatus",
    "AddressesNotUsable",
    "EgressStatus",
    "ExpectedAddress",
    "Family",
    "Finding",
    "KernelAddress",
    "Probe",
    "RecoveryCallback",
    "Report",
    "Scope",
    "Trunk",
    "assess",
    "check",
    "check_async",
    "classify",
]
