"""`/metrics` at scale: render time and memory with 1,000 trunks and 10,000 endpoints.

    python -m bench.bench_metrics [--trunks 1000] [--endpoints 10000]   # bench/reports/metrics.md

The state is filled the way AMI would fill it (re-sync snapshots and events): every trunk has an
outbound registration and calls in every direction and outcome (the worst case for label
combinations), every phone a reachable contact with a qualify RTT. The figure is the time of
`render(registry)`, which is what the `/metrics` handler does per scrape; RSS is the whole
process's resident memory after the renders (VmRSS) and its peak (VmHWM).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.report import REPORTS, LoadSampler, header, quantile_text, write
from supervisor.ami.calls import DIRECTIONS, OUTCOMES
from supervisor.ami.state import AsteriskState
from supervisor.metrics.asterisk import AsteriskCollector
from supervisor.metrics.exposition import render

REPORT = REPORTS / "metrics.md"


def rss_mb() -> tuple[float, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def build(trunks: int, endpoints: int) -> AsteriskState:
    trunk_names = {f"trunk-{i:04d}": f"trunk-{i:04d}" for i in range(trunks)}
    state = AsteriskState(trunks=trunk_names)
    state.set_connected(True, 0.0)
    state.set_synced()
    now = time.time()
    state.event({"Event": "FullyBooted", "Uptime": "3600", "LastReload": "60"}, now)
    state.core_settings({"AsteriskVersion": "22.10.1"})
    state.core_status({"CoreCurrentCalls": "100", "CoreProcessedCalls": "123456"})
    state.snapshot(
        "PJSIPShowRegistrationsOutbound",
        [
            {
                "Event": "OutboundRegistrationDetail",
                "ObjectName": name,
                "ClientUri": f"sip:user{i}@provider{i}.example.net",
                "ServerUri": f"sip:provider{i}.example.net",
                "Status": "Registered",
            }
            for i, name in enumerate(trunk_names)
        ],
        now,
    )
    phones = [f"phone-{i:05d}" for i in range(endpoints)]
    state.snapshot(
        "PJSIPShowEndpoints",
        [{"Event": "EndpointList", "ObjectName": n} for n in [*trunk_names, *phones]],
        now,
    )
    state.snapshot(
        "PJSIPShowContacts",
        [
            {
                "Event": "ContactList",
                "Aor": name,
                "Endpoint": name,
                "Uri": f"sip:{name}@[2001:db8::{i:x}]:5060",
                "Status": "Reachable",
                "RoundtripUsec": str(1000 + i),
            }
            for i, name in enumerate(phones)
        ],
        now,
    )
    for trunk in trunk_names:
        for direction in ("inbound", "outbound"):
            for outcome in OUTCOMES:
                state.calls.total[(direction, trunk, outcome)] = 3
    for outcome in OUTCOMES:
        state.calls.total[(DIRECTIONS[2], "", outcome)] = 5
    for cause in ("0", "16", "17", "18", "19", "21", "31", "34", "38", "127"):
        state.calls.hangup_causes[cause] = 7
    for value in (0.5, 3.0, 40.0, 900.0):
        state.calls.duration.observe(value)
        state.calls.answer_delay.observe(value / 100)
    return state


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_metrics", description=__doc__)
    parser.add_argument("--trunks", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10000)
    parser.add_argument("--renders", type=int, default=30)
    args = parser.parse_args()
    base_rss, _ = rss_mb()
    with LoadSampler() as load:
        state = build(args.trunks, args.endpoints)
        registry = CollectorRegistry()
        registry.register(AsteriskCollector(state))
        times = []
        body = b""
        for _ in range(args.renders):
            t0 = time.perf_counter()
            body = render(registry)
            times.append((time.perf_counter() - t0) * 1000)
    rss, peak = rss_mb()
    series = body.count(b"\n") - body.count(b"\n#")
    median = statistics.median(times)
    lines = [
        *header("`/metrics` at scale", load.summary(), report=REPORT),
        f"{args.trunks:,} trunks (each registered, calls in both directions and every outcome) "
        f"and {args.endpoints:,} phones (a reachable contact with an RTT): {series:,} series, "
        f"{len(body) / 1e6:.2f} MB of text. Time of `render(registry)` (what the handler does "
        f"per scrape), {args.renders} renders.",
        "",
        "| first render (label cache cold) | median | p95 | max | RSS after (peak) | target |",
        "|---:|---:|---:|---:|---:|---|",
        f"| {times[0]:.1f} ms | {median:.1f} ms | {quantile_text(times, 0.95, unit=' ms')} | "
        f"{max(times):.1f} ms | {rss:.0f} MB ({peak:.0f}; {base_rss:.0f} before the state) | "
        f"median < 50 ms, RSS < 150 MB: "
        f"{'met' if median < 50 and peak < 150 else 'NOT met'} |",
    ]
    write(REPORT, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
