"""The address metrics, computed from the monitor's last verdict at scrape time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from supervisor.addresses.model import ExpectedAddress, Report


class AddressView(Protocol):
    """What the collector reads (the monitor): the expected addresses, the last verdict and the
    number of changes seen."""

    @property
    def expected(self) -> Sequence[ExpectedAddress]: ...

    @property
    def report(self) -> Report | None: ...

    @property
    def changes(self) -> int: ...


class AddressCollector(Collector):
    """Labels come only from configuration: expected addresses and trunk names."""

    def __init__(self, monitor: AddressView) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        report = self.monitor.report
        present = GaugeMetricFamily(
            "asterisk_supervisor_address_present",
            "1 if the expected address is on an interface of the pod.",
            labels=["address", "family"],
        )
        usable = GaugeMetricFamily(
            "asterisk_supervisor_address_usable",
            "1 if the expected address is present, not tentative or dadfailed, and bindable.",
            labels=["address", "family"],
        )
        for expected in self.monitor.expected:
            status = report.status_of(expected.address) if report else None
            labels = [str(expected.address), expected.family]
            present.add_metric(labels, 1.0 if status and status.present else 0.0)
            usable.add_metric(labels, 1.0 if status and status.usable else 0.0)
        egress = GaugeMetricFamily(
            "asterisk_supervisor_egress_source_correct",
            "1 if the kernel selects the pod's expected address as the source toward the trunk.",
            labels=["trunk", "family"],
        )
        for route in report.egress if report else ():
            egress.add_metric([route.trunk, route.family], 1.0 if route.correct else 0.0)
        changes = CounterMetricFamily(
            "asterisk_supervisor_address_changes",
            "Changes of an expected address's state or of a trunk's selected source.",
            value=float(self.monitor.changes),
        )
        yield from (present, usable, egress, changes)
