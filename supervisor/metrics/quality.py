"""Call-quality metrics: a collector that reads CallQuality at scrape time.

Labels are `direction` and `trunk` only, and every combination the configuration allows is
exported from the start (zero counts), so that `rate()` and the one-way alert have a series to
work on before the first bad call. A handful of series per trunk: nothing here needs the fast
path of supervisor.metrics.asterisk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

from prometheus_client import utils
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from supervisor.ami.quality import CallQuality

P = "asterisk_supervisor_"
_go_float = cast(Callable[[float], str], utils.floatToGoString)  # untyped upstream
LABELS = ("direction", "trunk")

_HISTOGRAMS = (
    (
        "loss",
        P + "call_packet_loss_ratio",
        "Per answered call, the share of RTP packets Asterisk did not receive on the call's "
        "worst leg (lost / expected, from Asterisk's RTPAUDIOQOS at hangup).",
    ),
    (
        "jitter",
        P + "call_jitter_seconds",
        "Per answered call, the interarrival jitter Asterisk measured on the worst leg's "
        "received RTP.",
    ),
    (
        "rtt",
        P + "call_rtt_seconds",
        "Per answered call whose far end sent RTCP receiver reports, the worst leg's RTCP "
        "round-trip time.",
    ),
    (
        "mes",
        P + "call_media_experience_score",
        "Per answered call, the lowest Asterisk media experience score (0-100, G.107-like; "
        "about 88 for a perfect call) of its legs' received audio, where Asterisk computed one.",
    ),
)


class QualityCollector(Collector):
    """Register with `QualityCollector.register(registry, quality)`."""

    def __init__(self, quality: CallQuality) -> None:
        self.quality = quality

    @classmethod
    def register(cls, registry: CollectorRegistry, quality: CallQuality) -> QualityCollector:
        collector = cls(quality)
        registry.register(collector)
        return collector

    def describe(self) -> list[Metric]:
        return []  # without describe() the registry would call collect() at registration

    def collect(self) -> Iterator[Metric]:
        q = self.quality
        keys = q.keys()
        keys += sorted(set(q.one_way) - set(keys))  # a trunk removed from the site: keep its count
        one_way = CounterMetricFamily(
            P + "calls_one_way_media",
            "Answered calls that talked for at least 3 s in which a party's RTP never (or hardly: "
            "under 1 packet per second) reached Asterisk: one-way or no audio.",
            labels=LABELS,
        )
        for key in keys:
            one_way.add_metric(key, q.one_way.get(key, 0))
        yield one_way
        for kind, name, doc in _HISTOGRAMS:
            family = HistogramMetricFamily(name, doc, labels=LABELS)
            table = {"loss": q.loss, "jitter": q.jitter, "rtt": q.rtt, "mes": q.mes}[kind]
            for key in keys + sorted(set(table) - set(keys)):
                hist = q.histogram(kind, key)
                buckets, total = [], 0
                for bound, count in zip(hist.bounds, hist.counts, strict=False):
                    total += count
                    buckets.append((_go_float(bound), float(total)))
                buckets.append(("+Inf", float(hist.count)))
                family.add_metric(key, buckets, hist.sum)
            yield family
        yield CounterMetricFamily(
            P + "call_quality_rejected",
            "RTPAUDIOQOS values that were not exactly what Asterisk writes, ignored (a dialplan "
            "can set a variable of that name).",
            value=q.rejected,
        )
