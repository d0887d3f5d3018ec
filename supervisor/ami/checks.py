"""The AMI connection's contribution to the status board (`StatusBoard.add(ami_checks(client))`).

AMI logged in and Asterisk FullyBooted gate readiness; trunk registrations are shown but do not
(a provider outage must not take the PBX out of service for internal calls), unless
`require_registered` (the operator's choice: `run --require-registered`).
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor.ami.client import AmiClient
from supervisor.ami.peers import REGISTERED, REJECTED
from supervisor.status import Check

_STATUS_TEXT = {REGISTERED: "Registered", REJECTED: "Rejected"}


def ami_checks(client: AmiClient, *, require_registered: bool = False) -> Callable[[], list[Check]]:
    def checks() -> list[Check]:
        state = client.state
        where = f"{client.settings.host}:{client.settings.port}"
        result = [
            Check(
                name="ami",
                ok=client.connected.is_set(),
                detail=f"logged in to {where}" if client.connected.is_set() else "not connected",
            ),
            Check(
                name="asterisk booted",
                ok=client.fully_booted.is_set(),
                detail="FullyBooted" if client.fully_booted.is_set() else "not fully booted",
            ),
        ]
        for reg in sorted(state.peers.registrations.values(), key=lambda r: r.name):
            result.append(
                Check(
                    name=f"trunk registration {reg.name}",
                    ok=state.live and reg.status == REGISTERED,
                    detail=_STATUS_TEXT.get(reg.status, "Unregistered")
                    if state.live
                    else "unknown (AMI not connected or not re-synced)",
                    gates_readiness=require_registered,
                )
            )
        if require_registered and not state.live:
            # Before the re-sync the registrations are not known: none listed is not "all
            # registered" (readiness would pass in the moment between FullyBooted and the list).
            detail = "unknown until the AMI re-sync (AMI not connected or not re-synced)"
            result.append(Check(name="trunk registrations", ok=False, detail=detail))
        return result

    return checks
