"""Address recovery: Asterisk drops a transport whose bind failed and never retries it, so once a
lost required address is usable again, a res_pjsip reload recreates the transport."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from supervisor.addresses.model import ExpectedAddress

log = logging.getLogger(__name__)

MODULE = "res_pjsip.so"


class ModuleReloader(Protocol):
    """Reload Asterisk modules; the problems (one line each), empty on success."""

    async def reload(self, modules: Sequence[str]) -> list[str]: ...


class AddressRecovery:
    """The monitor's `on_recovered` callback. Nothing to do while Asterisk is not booted: it binds
    its transports when it starts."""

    def __init__(self, *, asterisk: ModuleReloader, booted: Callable[[], bool]) -> None:
        self._asterisk = asterisk
        self._booted = booted
        self.reloads = 0

    async def __call__(self, recovered: tuple[ExpectedAddress, ...]) -> None:
        if not self._booted():
            return
        names = ", ".join(str(a.address) for a in recovered)
        log.info("address(es) %s usable again: reloading res_pjsip to restore transports", names)
        self.reloads += 1
        problems = await self._asterisk.reload([MODULE])
        if problems:
            log.warning("%s reload after address recovery failed: %s", MODULE, "; ".join(problems))
