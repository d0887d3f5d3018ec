"""The log line of each Asterisk boot: the first says how long start-up took (the entrypoint
benchmark reads it), later ones that Asterisk (or the AMI session) came back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("supervisor")


class BootLog:
    """An `AmiClient.on_boot` listener; `started_at`: when the supervisor started (monotonic)."""

    def __init__(self, started_at: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.started_at = started_at
        self.ready_after: float | None = None
        self._clock = clock

    def __call__(self) -> None:
        if self.ready_after is None:
            self.ready_after = self._clock() - self.started_at
            log.info("Asterisk fully booted; ready %.2f s after start", self.ready_after)
        else:
            log.info("Asterisk fully booted again")
