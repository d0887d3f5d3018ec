"""The seam between the applier and Asterisk: reload modules, verify by read-back, re-register.
One implementation, over AMI; tests swap the AMI side (a wire-level fake), not this."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from supervisor.ami.types import AmiActions, AmiError, Message
from supervisor.reload.verify import VerifyError, verify

log = logging.getLogger(__name__)

RELOAD_TIMEOUT = 10.0


class AsteriskReload(Protocol):
    """What the applier asks of a running Asterisk. Each call reports problems (one line each)
    instead of raising: a failed reload is an outcome, not a crash."""

    async def reload(self, modules: Sequence[str]) -> list[str]:
        """Reload each module (in order); the problems, empty when every reload succeeded."""
        ...

    async def verify(
        self, files: Mapping[str, str], previous: Mapping[str, str] | None = None
    ) -> list[str]:
        """Read back that Asterisk runs what `files` declare (`previous`: the files before the
        change, for fields Asterisk may keep); the mismatches."""
        ...

    async def reregister(self, registrations: Sequence[str]) -> None:
        """Ask for a fresh REGISTER of each outbound registration (failures are logged)."""
        ...


def _refusal(reply: Sequence[Message]) -> str | None:
    head = reply[0] if reply else {}
    if head.get("Response") == "Success":
        return None
    return head.get("Message") or "no response"


class AmiReload:
    """AsteriskReload over AMI actions (`Reload`, the read-back lists, `PJSIPRegister`)."""

    def __init__(self, ami: AmiActions, *, timeout: float = RELOAD_TIMEOUT) -> None:
        self.ami = ami
        self.timeout = timeout

    async def _send(self, action: Mapping[str, str]) -> str | None:
        """The action's failure (None: Success)."""
        try:
            return _refusal(await self.ami.action(action, timeout=self.timeout))
        except AmiError as exc:
            return str(exc)

    async def reload(self, modules: Sequence[str]) -> list[str]:
        problems = []
        for module in modules:
            failure = await self._send({"Action": "Reload", "Module": module})
            if failure is not None:
                problems.append(f"reload {module}: {failure}")
        return problems

    async def verify(
        self, files: Mapping[str, str], previous: Mapping[str, str] | None = None
    ) -> list[str]:
        try:
            return await verify(self.ami, files, previous)
        except (AmiError, VerifyError) as exc:
            return [f"read-back: {exc}"]

    async def reregister(self, registrations: Sequence[str]) -> None:
        """A changed auth alone does not restart a registration: a fresh REGISTER lets the
        provider see the new credentials now, not at the next refresh."""
        for name in registrations:
            failure = await self._send({"Action": "PJSIPRegister", "Registration": name})
            if failure is not None:
                log.warning("re-register %s: %s", name, failure)
            else:
                log.info("registration %s re-registers with its changed credentials", name)
