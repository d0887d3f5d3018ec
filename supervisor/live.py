"""The live config as a subscription: every part that follows the applied site subscribes itself.

The applier publishes each config it made live (the initial one included); every subscriber's
`on_config` is called with it, in subscription order, on the event loop. A part subscribed after
a config went live gets the current one at once, so the order of construction does not matter.

A subscriber takes the narrowest view of the config it needs (its own Protocol, structurally
satisfied by `supervisor.reload.Config`): a part never imports the reload package to follow it.
"""

from __future__ import annotations

import logging
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)


class Subscriber(Protocol[C_contra]):
    """A part that follows the live config."""

    def on_config(self, config: C_contra, /) -> None:
        """Called with every config that went live (synchronous: hint a task for slow work)."""
        ...


class LiveConfig(Generic[C]):
    """The config Asterisk runs now, and who follows it."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber[C]] = []
        self._current: C | None = None

    @property
    def current(self) -> C | None:
        return self._current

    def subscribe(self, subscriber: Subscriber[C]) -> None:
        """Follow every applied config from now on, starting with the current one (if any)."""
        self._subscribers.append(subscriber)
        if self._current is not None:
            self._deliver(subscriber, self._current)

    def publish(self, config: C) -> None:
        """`config` went live (the applier's `on_applied`)."""
        self._current = config
        for subscriber in self._subscribers:
            self._deliver(subscriber, config)

    @staticmethod
    def _deliver(subscriber: Subscriber[C], config: C) -> None:
        try:
            subscriber.on_config(config)
        except Exception:  # one part's bug must not keep the config from the others
            log.exception("%s failed to follow the live config", type(subscriber).__name__)
