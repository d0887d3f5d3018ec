"""Asterisk's console lines about requests its ACL refused, summarised instead of relayed.

For every request from a denied source Asterisk writes two lines (acl.c NOTICE "SIP ACL:
Rejecting '...'" and res_pjsip_acl WARNING "... did not pass ACL test"): a blocked scanner at
200 requests/s would put 400 lines/s into the pod's log, and relaying them cost the supervisor
more CPU than the attack itself (bench/reports/security.md). This filter, on the `asterisk`
logger, drops those lines, counts the refusals, and lets one summary line through per
`interval` seconds. The block itself was logged once, when the source was blocked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("supervisor.security")

REFUSED = "did not pass ACL test"  # one per refused request (res_pjsip_acl, endpoint ACLs)
REJECTING = "SIP ACL: Rejecting '"  # acl.c's companion line for the same request


class RefusalSummary(logging.Filter):
    def __init__(
        self,
        *,
        interval: float = 60.0,
        on_refused: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self._on_refused = on_refused
        self._clock = clock
        self._pending = 0
        self._since = clock()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if REFUSED in message:
            self._on_refused()
            self._pending += 1
            self._maybe_summarise()
            return False
        return REJECTING not in message

    def _maybe_summarise(self) -> None:
        now = self._clock()
        if now - self._since < self.interval:
            return
        log.info(
            "Asterisk refused %d SIP request(s) from blocked sources in the last %.0f s "
            "(its per-request lines are counted, not shown)",
            self._pending,
            now - self._since,
        )
        self._pending = 0
        self._since = now
