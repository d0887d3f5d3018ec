"""The live config as a subscription (supervisor/live.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from supervisor.live import LiveConfig


@dataclass
class Recorder:
    name: str
    seen: list[tuple[str, str]]

    def on_config(self, config: str) -> None:
        self.seen.append((self.name, config))


@dataclass
class Broken:
    calls: list[str] = field(default_factory=list)

    def on_config(self, config: str) -> None:
        self.calls.append(config)
        raise RuntimeError("bug in a subscriber")


def test_every_subscriber_gets_every_config_in_subscription_order() -> None:
    """publish() calls each subscriber once per config, in the order they subscribed."""
    live: LiveConfig[str] = LiveConfig()
    seen: list[tuple[str, str]] = []
    live.subscribe(Recorder("a", seen))
    live.subscribe(Recorder("b", seen))
    live.publish("one")
    live.publish("two")
    assert seen == [("a", "one"), ("b", "one"), ("a", "two"), ("b", "two")]
    assert live.current == "two"


def test_a_late_subscriber_gets_the_current_config_at_once() -> None:
    """Subscribing after a config went live delivers it immediately (order of construction is
    free); before any config, nothing is delivered."""
    live: LiveConfig[str] = LiveConfig()
    seen: list[tuple[str, str]] = []
    live.subscribe(Recorder("early", seen))
    assert seen == []
    live.publish("one")
    live.subscribe(Recorder("late", seen))
    assert seen == [("early", "one"), ("late", "one")]


def test_a_failing_subscriber_does_not_keep_the_config_from_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A subscriber that raises is logged by name; the ones after it still get the config."""
    live: LiveConfig[str] = LiveConfig()
    seen: list[tuple[str, str]] = []
    broken = Broken()
    live.subscribe(broken)
    live.subscribe(Recorder("after", seen))
    with caplog.at_level(logging.ERROR, logger="supervisor.live"):
        live.publish("one")
    assert broken.calls == ["one"]
    assert seen == [("after", "one")]
    assert "Broken failed to follow the live config" in caplog.text
