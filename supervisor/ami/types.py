"""The seam between AMI users (reload, drain, metrics) and the AMI connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

Message = Mapping[str, str]


class AmiError(Exception):
    """An action failed: no connection, timeout, or an `Error` response (message says which)."""


class AmiActions(Protocol):
    """Send one AMI action and return its response: the `Response` message first, then, for
    list actions (EventList: start), every event of the list up to and including the
    `...Complete` event. Raises AmiError on timeout or when not connected; an `Error` response
    is returned, not raised, so callers can read its `Message`."""

    async def action(
        self, action: Mapping[str, str], *, timeout: float = 5.0
    ) -> Sequence[Message]: ...
