"""Asterisk-state metrics: a collector that reads AsteriskState at scrape time.

Nothing here runs per event: the AMI path only updates the state's dicts and integers, and each
scrape turns them into fresh metric families (client_python's custom-collector pattern). Gauges
that describe Asterisk *now* are left out while AMI is disconnected (unknown is not zero);
counters and histograms are always there.

Names are the ones agreed in CONTRIBUTING.md; the res_prometheus ones keep its exact names and
types (its counters have no `_total`, see exposition.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from supervisor.ami.state import AsteriskState, Histogram

P = "asterisk_supervisor_"


def _legacy_counter(name: str, doc: str, value: float) -> Metric:
    """A counter exposed under its bare name, as res_prometheus does."""
    metric = Metric(name, doc, "counter")
    metric.add_sample(name, {}, value)
    return metric


def _histogram(name: str, doc: str, hist: Histogram) -> HistogramMetricFamily:
    buckets: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip(hist.bounds, hist.counts, strict=False):
        total += count
        buckets.append((_bound(bound), total))
    buckets.append(("+Inf", hist.count))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=hist.sum)


def _bound(value: float) -> str:
    return str(int(value)) + ".0" if value == int(value) else repr(value)


class AsteriskCollector(Collector):
    """Register with `AsteriskCollector.register(registry, state)`."""

    def __init__(self, state: AsteriskState, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self._clock = clock

    @classmethod
    def register(cls, registry: CollectorRegistry, state: AsteriskState) -> AsteriskCollector:
        collector = cls(state)
        registry.register(collector)
        return collector

    def describe(self) -> list[Metric]:
        # Without describe() the registry would call collect() at registration time.
        return []

    def collect(self) -> Iterator[Metric]:
        st = self.state
        now = self._clock()
        live = st.ami_connected

        # ---- AMI connection ----
        yield GaugeMetricFamily(
            P + "ami_connected", "1 while logged in to Asterisk's AMI.", value=int(live)
        )
        yield CounterMetricFamily(
            P + "ami_reconnects", "AMI logins after the first one.", value=st.ami_reconnects
        )
        yield CounterMetricFamily(P + "ami_events", "AMI events processed.", value=st.events_total)
        if st.last_event_time is not None:
            yield GaugeMetricFamily(
                P + "ami_last_event_timestamp_seconds",
                "Unix time of the last AMI event.",
                value=st.last_event_time,
            )

        # ---- calls (counters and histograms survive disconnects) ----
        calls = CounterMetricFamily(
            P + "calls",
            "Ended calls by direction (inbound from a trunk, outbound to a trunk, internal), "
            "trunk and outcome; counted once when the call's last channel is gone.",
            labels=("direction", "trunk", "outcome"),
        )
        for (direction, trunk, outcome), count in st.calls_total.items():
            calls.add_metric((direction, trunk, outcome), count)
        yield calls
        causes = CounterMetricFamily(
            P + "hangup_causes",
            "Ended calls by the Q.850 hangup cause of the calling channel.",
            labels=("cause",),
        )
        for cause, count in st.hangup_causes.items():
            causes.add_metric((cause,), count)
        yield causes
        yield _histogram(
            P + "call_duration_seconds",
            "Talk time of answered calls (answer to last hangup), once per call.",
            st.duration,
        )
        yield _histogram(
            P + "call_answer_delay_seconds",
            "Time from a call's first channel to its answer, once per answered call.",
            st.answer_delay,
        )

        # ---- trunks (registration changes are counters: always) ----
        changes = CounterMetricFamily(
            P + "registration_changes",
            "Outbound registration status changes.",
            labels=("registration",),
        )
        success = GaugeMetricFamily(
            P + "registration_last_success_timestamp_seconds",
            "Unix time of the last successful REGISTER of an outbound registration.",
            labels=("registration",),
        )
        status = GaugeMetricFamily(
            "asterisk_pjsip_outbound_registration_status",
            "Outbound registration status: 0=Unregistered, 1=Registered, 2=Rejected.",
            labels=("username", "domain", "channel_type", "registration"),
        )
        for reg in st.registrations.values():
            changes.add_metric((reg.name,), reg.changes)
            if reg.last_success is not None:
                success.add_metric((reg.name,), reg.last_success)
            if live:
                status.add_metric((reg.client_uri, reg.server_uri, "PJSIP", reg.name), reg.status)
        yield changes
        yield success
        if not live:
            return
        yield status

        # ---- endpoints ----
        reachable = GaugeMetricFamily(
            P + "endpoint_reachable",
            "1 if any qualified contact of the endpoint is reachable, 0 if none is; absent "
            "for endpoints without qualified contacts.",
            labels=("endpoint",),
        )
        rtt = GaugeMetricFamily(
            P + "endpoint_rtt_seconds",
            "Best qualify round-trip time among the endpoint's reachable contacts.",
            labels=("endpoint",),
        )
        for endpoint, (up, best) in st.endpoint_health().items():
            reachable.add_metric((endpoint,), up)
            if best is not None:
                rtt.add_metric((endpoint,), best)
        yield reachable
        yield rtt

        # ---- active calls, core ----
        yield GaugeMetricFamily(
            P + "calls_active", "Calls (linked channel groups) in progress.", value=st.calls_active
        )
        yield GaugeMetricFamily(
            P + "channels_active", "Channels in existence.", value=len(st.channels)
        )
        if st.version is not None:
            info = GaugeMetricFamily(
                P + "asterisk_info", "Asterisk's version; always 1.", labels=("version",)
            )
            info.add_metric((st.version,), 1)
            yield info
        if st.started_at is not None:
            yield _legacy_counter(
                "asterisk_core_uptime_seconds",
                "Asterisk instance uptime in seconds.",
                int(now - st.started_at),
            )
        if st.reloaded_at is not None:
            yield _legacy_counter(
                "asterisk_core_last_reload_seconds",
                "Time since last Asterisk reload in seconds.",
                int(now - st.reloaded_at),
            )
        if st.core_current_calls is not None:
            yield GaugeMetricFamily(
                "asterisk_calls_count", "Current call count.", value=st.core_current_calls
            )
        if st.core_processed_calls is not None:
            yield _legacy_counter(
                "asterisk_calls_sum", "Total call count.", st.core_processed_calls
            )
        yield GaugeMetricFamily(
            "asterisk_channels_count", "Current channel count.", value=len(st.channels)
        )
        yield GaugeMetricFamily(
            "asterisk_endpoints_count", "Current endpoint count.", value=len(st.endpoints)
        )
        yield GaugeMetricFamily(
            "asterisk_bridges_count", "Current bridge count.", value=len(st.bridges)
        )
