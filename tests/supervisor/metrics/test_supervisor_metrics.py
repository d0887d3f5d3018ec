"""The supervisor's own metrics are read at scrape time from the parts that own the facts."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from supervisor.metrics.supervisor import SupervisorCollector

NAMES = (
    "asterisk_supervisor_asterisk_up",
    "asterisk_supervisor_asterisk_restarts_total",
    "asterisk_supervisor_ready",
    "asterisk_supervisor_draining",
)


def test_values_follow_their_sources() -> None:
    """up, restarts_total, ready and draining show each source's current value, by name."""
    asterisk: Any = SimpleNamespace(running=False, crashes=0)
    facts = {"ready": False, "draining": False}
    registry = CollectorRegistry()
    registry.register(
        SupervisorCollector(
            asterisk=asterisk, ready=lambda: facts["ready"], draining=lambda: facts["draining"]
        )
    )
    assert [registry.get_sample_value(n) for n in NAMES] == [0.0, 0.0, 0.0, 0.0]
    asterisk.running, asterisk.crashes = True, 2
    facts.update(ready=True, draining=True)
    assert [registry.get_sample_value(n) for n in NAMES] == [1.0, 2.0, 1.0, 1.0]


def test_sidecar_mode_has_no_asterisk_process() -> None:
    """Without a process of ours (sidecar mode) Asterisk is never up here, with no restarts."""
    registry = CollectorRegistry()
    registry.register(
        SupervisorCollector(asterisk=None, ready=lambda: True, draining=lambda: False)
    )
    assert [registry.get_sample_value(n) for n in NAMES] == [0.0, 0.0, 1.0, 0.0]
