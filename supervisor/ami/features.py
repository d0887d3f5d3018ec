"""The phones' do-not-disturb and forwards as Asterisk holds them (astdb), for `/status`.

The phones set them with feature codes (render/features.py, docs/features.md); astdb sends no
event when they change, so `PhoneFeatureReader` reads the four families with `DBGetTree` (one
action each, bounded by a timeout) when a config goes live, after Asterisk boots or reloads, and
on a timer. Only the live site's featured phones are kept (keys Asterisk holds beyond them are
ignored, values are cut to the longest target a phone may set), so what `/status` shows is
bounded by the configuration. Unknown (Asterisk down, not read yet) is shown as unknown, never as
"off".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import NoReturn, Protocol

from supervisor.ami.poll import poll_forever
from supervisor.ami.types import AmiActions, Message
from supervisor.site.features import DND_FAMILY, FORWARD_CHARACTERS, FORWARD_FAMILIES
from supervisor.site.resolve import ResolvedSite

ACTION_TIMEOUT = 5.0
#: The status key of each family.
FIELDS: dict[str, str] = {
    DND_FAMILY: "dnd",
    **{family: f"forward_{kind}" for kind, family in FORWARD_FAMILIES.items()},
}


class AppliedSite(Protocol):
    @property
    def site(self) -> ResolvedSite: ...


class PhoneFeatureReader:
    """Phone name -> its do-not-disturb and forwards, for the live site's featured phones."""

    def __init__(
        self,
        *,
        ami: AmiActions,
        booted: asyncio.Event,
        interval: float = 30.0,
    ) -> None:
        self.ami = ami
        self.booted = booted
        self.interval = interval
        self._phones: frozenset[str] = frozenset()
        self._limit = 0
        self._state: dict[str, dict[str, object]] | None = None
        self._read_at: float | None = None
        self._wakeup = asyncio.Event()

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: its featured phones (read again soon: phones may have come)."""
        site = config.site
        self._phones = frozenset(site.featured_phones())
        features = site.dialplan.features
        self._limit = features.max_forward_digits if features is not None else 0
        if self._state is not None:
            self._state = {n: s for n, s in self._state.items() if n in self._phones}
        self.hint()

    def hint(self, _event: Message | None = None) -> None:
        """Asterisk booted or reloaded: read again soon."""
        self._wakeup.set()

    def forget(self) -> None:
        self._state = None
        self._read_at = None

    async def refresh(self) -> None:
        """Read the four families (raises AmiError when Asterisk does not answer)."""
        state: dict[str, dict[str, object]] = {}
        for family, field in FIELDS.items():
            reply = await self.ami.action(
                {"Action": "DBGetTree", "Family": family}, timeout=ACTION_TIMEOUT
            )
            for row in reply[1:]:
                if row.get("Event") != "DBGetTreeResponse":
                    continue
                # Key is /family/name; only the live site's phones count.
                name = row.get("Key", "").removeprefix(f"/{family}/")
                if name not in self._phones:
                    continue
                value = row.get("Val", "")
                if field == "dnd":
                    if value == "1":
                        state.setdefault(name, {})[field] = True
                elif value:
                    kept = "".join(c for c in value[: self._limit] if c in FORWARD_CHARACTERS)
                    state.setdefault(name, {})[field] = kept
        self._state = state
        self._read_at = time.time()

    def status(self) -> Mapping[str, object]:
        """The `/status` section: `known` false until read; `phones`: one entry per phone with
        something on, by name (`phone`; `dnd` true, `forward_*` the number)."""
        if self._state is None:
            return {"known": False, "phones": []}
        return {
            "known": True,
            "read_at": self._read_at,
            "phones": [{"phone": name, **self._state[name]} for name in sorted(self._state)],
        }

    async def run(self) -> NoReturn:
        await poll_forever(
            booted=self.booted,
            refresh=self.refresh,
            forget=self.forget,
            wakeup=self._wakeup,
            interval=self.interval,
            what="phone features",
        )
