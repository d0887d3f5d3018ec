"""The supervisor's own metrics are read at scrape time from the parts that own the facts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from supervisor.metrics.supervisor import SupervisorCollector


def test_values_follow_their_sources() -> None:
    """up, restarts_total, ready and draining show each source's current value, by name."""
    facts = {"running": False, "crashes": 0, "ready": False, "draining": False}
    registry = CollectorRegistry()
    registry.register(
        SupervisorCollector(
            running=lambda: bool(facts["running"]),
            crashes=lambda: int(facts["crashes"]),
            ready=lambda: bool(facts["ready"]),
            draining=lambda: bool(facts["draining"]),
        )
    )
    names = (
        "asterisk_supervisor_asterisk_up",
        "asterisk_supervisor_asterisk_restarts_total",
        "asterisk_supervisor_ready",
        "asterisk_supervisor_draining",
    )
    assert [registry.get_sample_value(n) for n in names] == [0.0, 0.0, 0.0, 0.0]
    facts.update(running=True, crashes=2, ready=True, draining=True)
    assert [registry.get_sample_value(n) for n in names] == [1.0, 2.0, 1.0, 1.0]
