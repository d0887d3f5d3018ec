"""Asterisk-state metrics: a collector that reads AsteriskState at scrape time.

Nothing here runs per event: the AMI path only updates the state's dicts and integers, and each
scrape turns them into fresh metric families (client_python's custom-collector pattern). Gauges
that describe Asterisk *now* are left out while AMI is disconnected or not yet re-synced
(unknown is not zero); counters and histograms are always there.

Names are the ones agreed in CONTRIBUTING.md; the res_prometheus ones keep its exact names and
types (its counters have no `_total`, see exposition.py).

Speed: a site with 1,000 trunks and 10,000 endpoints has ~33,000 series. client_python's
families build a dict and a Sample per series and the text is formatted label by label: about
150 ms per scrape here. So each family is a `Family` holding its exposition lines, written with
the label part of each line cached (labels come from configuration, so the cache is bounded by
it); its `samples` are built only when something asks (tests, generate_latest). See
bench/bench_metrics.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

from supervisor.ami.fields import Histogram
from supervisor.ami.state import AsteriskState

P = "asterisk_supervisor_"

Value = float
#: Ended calls by (direction, trunk, outcome), read at scrape time.
CallCounts = Callable[[], Mapping[tuple[str, str, str], int]]
_LABEL_CACHE_LIMIT = 100_000  # per sample name; far above any site's series count


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class Family(Metric):
    """A metric family given as ready exposition lines (`exposition_lines()`); its `samples` are
    built only when asked, from `rows`."""

    def __init__(
        self,
        name: str,
        documentation: str,
        typ: str,
        lines: list[str],
        rows: Callable[[], list[Sample]],
        *,
        bare_counter: bool = False,
    ) -> None:
        super().__init__(name, documentation, typ)
        self._lines = lines
        self._rows = rows
        #: A counter exposed under its bare name, as res_prometheus does (exposition.py).
        self.bare_counter = bare_counter

    @property
    def samples(self) -> list[Sample]:
        return self._rows()

    @samples.setter
    def samples(self, _value: list[Sample]) -> None:
        """Metric.__init__ assigns an empty list: the rows are the samples."""

    def exposition_lines(self) -> list[str]:
        return self._lines


class AsteriskCollector(Collector):
    """Register with `AsteriskCollector.register(registry, state)`."""

    def __init__(
        self,
        state: AsteriskState,
        *,
        clock: Callable[[], float] = time.time,
        calls_total: CallCounts | None = None,
    ) -> None:
        self.state = state
        # The supervisor counts ended calls from the durable record (supervisor/records:
        # exactly once, whatever AMI saw); without one, from the AMI view.
        self._calls_total = calls_total or (lambda: state.calls.total)
        self._clock = clock
        # sample name -> label values -> '{name="value",...}' (labels come from configuration,
        # so this is bounded by it; cleared if it ever grows past the limit)
        self._label_text: dict[str, dict[object, str]] = {}

    @classmethod
    def register(
        cls,
        registry: CollectorRegistry,
        state: AsteriskState,
        *,
        calls_total: CallCounts | None = None,
    ) -> AsteriskCollector:
        collector = cls(state, calls_total=calls_total)
        registry.register(collector)
        return collector

    def describe(self) -> list[Metric]:
        # Without describe() the registry would call collect() at registration time.
        return []

    def _single(self, name: str, doc: str, typ: str, value: Value) -> Family:
        # Our counters' samples end in _total; res_prometheus' (not under P) keep their names.
        bare = typ == "counter" and not name.startswith(P)
        sample = name + "_total" if typ == "counter" and not bare else name
        return Family(
            name,
            doc,
            typ,
            [f"{sample} {value}\n"],
            lambda: [Sample(sample, {}, value)],
            bare_counter=bare,
        )

    def _labelled(
        self,
        name: str,
        doc: str,
        typ: str,
        sample: str,
        label_names: tuple[str, ...],
        data: list[tuple[Any, Value]],
    ) -> Family:
        """`data`: (label value, value) pairs, the label value a str for one label name or a
        tuple of str for several."""
        cache = self._label_text.setdefault(sample, {})
        if len(cache) > _LABEL_CACHE_LIMIT:
            cache.clear()
        lines = []
        for key, value in data:
            text = cache.get(key)
            if text is None:
                values = (key,) if isinstance(key, str) else key
                inner = ",".join(
                    f'{n}="{_escape(v)}"' for n, v in zip(label_names, values, strict=True)
                )
                text = cache[key] = "{" + inner + "}"
            lines.append(f"{sample}{text} {value}\n")

        def rows() -> list[Sample]:
            return [
                Sample(
                    sample,
                    dict(zip(label_names, (k,) if isinstance(k, str) else k, strict=True)),
                    v,
                )
                for k, v in data
            ]

        return Family(name, doc, typ, lines, rows)

    def _histogram(self, name: str, doc: str, hist: Histogram) -> Family:
        samples: list[Sample] = []
        total = 0
        bucket = name + "_bucket"
        for bound, count in zip(hist.bounds, hist.counts, strict=False):
            total += count
            samples.append(Sample(bucket, {"le": _bound(bound)}, total))
        samples.append(Sample(bucket, {"le": "+Inf"}, hist.count))
        samples.append(Sample(name + "_count", {}, hist.count))
        samples.append(Sample(name + "_sum", {}, hist.sum))
        lines = [
            f'{s.name}{{le="{s.labels["le"]}"}} {s.value}\n'
            if s.labels
            else f"{s.name} {s.value}\n"
            for s in samples
        ]
        return Family(name, doc, "histogram", lines, lambda: samples)

    def collect(self) -> Iterator[Metric]:
        st = self.state
        now = self._clock()
        live = st.live

        # ---- AMI connection ----
        yield self._single(
            P + "ami_connected",
            "1 while logged in to Asterisk's AMI.",
            "gauge",
            int(st.ami_connected),
        )
        yield self._single(
            P + "ami_reconnects", "AMI logins after the first one.", "counter", st.ami_reconnects
        )
        yield self._single(P + "ami_events", "AMI events processed.", "counter", st.events_total)
        yield self._labelled(
            P + "ami_protocol_errors",
            "AMI connections closed by the supervisor over a protocol error: not_ami (the peer "
            "did not greet as Asterisk's manager), message_too_large (a message over the cap).",
            "counter",
            P + "ami_protocol_errors_total",
            ("reason",),
            list(st.ami_protocol_errors.items()),
        )
        if st.last_event_time is not None:
            yield self._single(
                P + "ami_last_event_timestamp_seconds",
                "Unix time of the last AMI event.",
                "gauge",
                st.last_event_time,
            )

        # ---- calls (counters and histograms survive disconnects) ----
        yield self._labelled(
            P + "calls",
            "Ended calls by direction (inbound from a trunk, outbound to a trunk, internal), "
            "trunk and outcome; counted once, when the call record holds its end (lost: "
            "Asterisk ended without recording one).",
            "counter",
            P + "calls_total",
            ("direction", "trunk", "outcome"),
            list(self._calls_total().items()),
        )
        yield self._labelled(
            P + "hangup_causes",
            "Ended calls by the Q.850 hangup cause of the calling channel.",
            "counter",
            P + "hangup_causes_total",
            ("cause",),
            list(st.calls.hangup_causes.items()),
        )
        yield self._histogram(
            P + "call_duration_seconds",
            "Talk time of answered calls (answer to last hangup), once per call.",
            st.calls.duration,
        )
        yield self._histogram(
            P + "call_answer_delay_seconds",
            "Time from a call's first channel to its answer, once per answered call.",
            st.calls.answer_delay,
        )

        # ---- trunks (registration changes are counters: always) ----
        registrations = list(st.peers.registrations.values())
        yield self._labelled(
            P + "registration_changes",
            "Outbound registration status changes.",
            "counter",
            P + "registration_changes_total",
            ("registration",),
            [(r.name, r.changes) for r in registrations],
        )
        yield self._labelled(
            P + "registration_last_success_timestamp_seconds",
            "Unix time of the last successful REGISTER of an outbound registration.",
            "gauge",
            P + "registration_last_success_timestamp_seconds",
            ("registration",),
            [(r.name, r.last_success) for r in registrations if r.last_success is not None],
        )
        if not live:
            return
        name = "asterisk_pjsip_outbound_registration_status"
        yield self._labelled(
            name,
            "Outbound registration status: 0=Unregistered, 1=Registered, 2=Rejected.",
            "gauge",
            name,
            ("username", "domain", "channel_type", "registration"),
            [((r.client_uri, r.server_uri, "PJSIP", r.name), r.status) for r in registrations],
        )

        # ---- endpoints ----
        health = list(st.peers.endpoint_health().items())
        yield self._labelled(
            P + "endpoint_reachable",
            "1 if any qualified contact of the endpoint is reachable, 0 if none is; absent "
            "for endpoints without qualified contacts.",
            "gauge",
            P + "endpoint_reachable",
            ("endpoint",),
            [(endpoint, up) for endpoint, (up, _) in health],
        )
        yield self._labelled(
            P + "endpoint_rtt_seconds",
            "Best qualify round-trip time among the endpoint's reachable contacts.",
            "gauge",
            P + "endpoint_rtt_seconds",
            ("endpoint",),
            [(endpoint, rtt) for endpoint, (_, rtt) in health if rtt is not None],
        )

        # ---- active calls, core ----
        yield self._single(
            P + "calls_active",
            "Calls (linked channel groups) in progress.",
            "gauge",
            st.calls.count,
        )
        yield self._single(
            P + "channels_active", "Channels in existence.", "gauge", len(st.calls.channels)
        )
        if st.version is not None:
            yield self._labelled(
                P + "asterisk_info",
                "Asterisk's version; always 1.",
                "gauge",
                P + "asterisk_info",
                ("version",),
                [(st.version, 1)],
            )
        if st.started_at is not None:
            yield self._single(
                "asterisk_core_uptime_seconds",
                "Asterisk instance uptime in seconds.",
                "counter",
                int(now - st.started_at),
            )
        if st.reloaded_at is not None:
            yield self._single(
                "asterisk_core_last_reload_seconds",
                "Time since last Asterisk reload in seconds.",
                "counter",
                int(now - st.reloaded_at),
            )
        if st.core_current_calls is not None:
            yield self._single(
                "asterisk_calls_count", "Current call count.", "gauge", st.core_current_calls
            )
        if st.core_processed_calls is not None:
            yield self._single(
                "asterisk_calls_sum", "Total call count.", "counter", st.core_processed_calls
            )
        yield self._single(
            "asterisk_channels_count", "Current channel count.", "gauge", len(st.calls.channels)
        )
        yield self._single(
            "asterisk_endpoints_count", "Current endpoint count.", "gauge", len(st.peers.endpoints)
        )
        yield self._single(
            "asterisk_bridges_count", "Current bridge count.", "gauge", len(st.calls.bridges)
        )


def _bound(value: float) -> str:
    return f"{value:.1f}" if value == int(value) else repr(value)
