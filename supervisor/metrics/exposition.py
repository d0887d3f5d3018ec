"""Prometheus text exposition (format 0.0.4) of a registry.

prometheus_client's generate_latest always writes a counter's HELP/TYPE name with `_total`
appended; res_prometheus' counters (`asterisk_core_uptime_seconds`, `asterisk_calls_sum`, ...)
have no such suffix and dashboards use them as they are. Here a counter whose samples carry the
family's bare name is written under that name; everything else as generate_latest writes it.
Families offering `exposition_lines()` (supervisor.metrics.asterisk.Family) are written from
their rows directly, which is what keeps a 33,000-series scrape fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from prometheus_client import utils
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# client_python's Go-style float formatting, so ordinary metrics render byte for byte as
# generate_latest renders them (it is untyped upstream).
_value = cast(Callable[[float], str], utils.floatToGoString)


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render(registry: Collector) -> bytes:
    out: list[str] = []
    for metric in registry.collect():
        name, kind = metric.name, metric.type
        fast = getattr(metric, "exposition_lines", None)
        if kind == "counter":
            if fast is not None:
                legacy = bool(getattr(metric, "bare_counter", False))
            else:
                legacy = bool(metric.samples) and all(s.name == name for s in metric.samples)
            if not legacy:
                name += "_total"
        elif kind == "info":
            name, kind = name + "_info", "gauge"
        elif kind == "stateset":
            kind = "gauge"
        elif kind == "gaugehistogram":
            kind = "histogram"
        elif kind == "unknown":
            kind = "untyped"
        out.append(f"# HELP {name} {_escape_help(metric.documentation)}\n")
        out.append(f"# TYPE {name} {kind}\n")
        if fast is not None:  # supervisor.metrics.asterisk.Family: rows rendered directly
            out.extend(fast())
            continue
        created: list[str] = []
        for sample in metric.samples:
            if sample.labels:
                labels = ",".join(
                    f'{k}="{_escape_value(v)}"' for k, v in sorted(sample.labels.items())
                )
                line = f"{sample.name}{{{labels}}} {_value(sample.value)}\n"
            else:
                line = f"{sample.name} {_value(sample.value)}\n"
            if sample.name.endswith("_created") and sample.name == metric.name + "_created":
                created.append(line)  # as generate_latest: a separate gauge after the family
            else:
                out.append(line)
        if created:
            out.append(f"# HELP {metric.name}_created {_escape_help(metric.documentation)}\n")
            out.append(f"# TYPE {metric.name}_created gauge\n")
            out.extend(created)
    return "".join(out).encode("utf-8")
