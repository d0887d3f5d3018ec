"""The supervisor's own metrics, computed at scrape time from the parts that own the facts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from supervisor.process.asterisk import AsteriskSupervisor


class SupervisorCollector(Collector):
    """`asterisk`: the process supervisor (None in sidecar mode: Asterisk is not ours, never up
    here); `ready()`, `draining()`: the status board's and the shutdown's."""

    def __init__(
        self,
        *,
        asterisk: AsteriskSupervisor | None,
        ready: Callable[[], bool],
        draining: Callable[[], bool],
    ) -> None:
        self._asterisk = asterisk
        self._ready = ready
        self._draining = draining

    def _running(self) -> bool:
        return self._asterisk is not None and self._asterisk.running

    def _crashes(self) -> int:
        return self._asterisk.crashes if self._asterisk is not None else 0

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "asterisk_supervisor_asterisk_up",
            "Asterisk's process is running.",
            value=1.0 if self._running() else 0.0,
        )
        yield CounterMetricFamily(
            "asterisk_supervisor_asterisk_restarts",
            "Asterisk restarts after a crash (the pod's restarts not included).",
            value=float(self._crashes()),
        )
        yield GaugeMetricFamily(
            "asterisk_supervisor_ready",
            "The supervisor reports ready.",
            value=1.0 if self._ready() else 0.0,
        )
        yield GaugeMetricFamily(
            "asterisk_supervisor_draining",
            "Shutting down: new calls refused, active calls finishing.",
            value=1.0 if self._draining() else 0.0,
        )
