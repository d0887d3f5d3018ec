"""Certificate rotation with a real Asterisk 22 in the lab: Secret swap to new certificate served.

    python -m bench.bench_tls_rotation [--rotations 20] [--debounce 1.0 0.2]    # as root

The pod's tls transport (the home example's site, the real loader, renderer, applier and reload
loop, the real AMI client) gets a new certificate by a kubelet-style swap of the Secret, again and
again. Latency runs from just before the swap to the first handshake that gets the new
certificate (handshakes every 20 ms from inside the pod). Meanwhile a second client makes a
handshake every 10 ms and counts those that fail (a listener gap during the restart). Asterisk's
start time is compared before and after (no restart). Figures go to bench/reports/tls-rotation.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import LoadSampler, header, percentile, quantile_text, write
from lab import netns
from lab.reloadpbx import LabPbx
from lab.rootfs import ensure_rootfs
from supervisor.reload import Reloader
from supervisor.tls.served import handshake
from tests.supervisor.reload.test_tls_rotation_lab import CA, FIRST, set_certificate, tls_site

REPORT = Path(__file__).resolve().parent / "reports" / "tls-rotation.md"


async def prober(stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Handshakes every 10 ms; counts successes and failures."""
    while not stop.is_set():
        try:
            await handshake(netns.POD_V6, 5061, 2.0)
            counts["ok"] += 1
        except (OSError, TimeoutError) as exc:
            counts["failed"] += 1
            counts.setdefault(type(exc).__name__, 0)
            counts[type(exc).__name__] += 1
        await asyncio.sleep(0.01)


async def rotations(pbx: LabPbx, count: int, debounce: float) -> tuple[list[float], dict[str, int]]:
    booted = asyncio.Event()
    booted.set()
    applier = pbx.applier()
    await applier.apply()
    task = asyncio.create_task(Reloader(applier=applier, booted=booted, debounce=debounce).run())
    stop = asyncio.Event()
    counts = {"ok": 0, "failed": 0}
    probe = asyncio.create_task(prober(stop, counts))
    latencies: list[float] = []
    try:
        await asyncio.sleep(1.0)
        for _ in range(count):
            new = CA.issue((netns.POD_V6,))
            swapped = time.monotonic()
            await asyncio.to_thread(set_certificate, pbx, new)
            while True:
                try:
                    if await handshake(netns.POD_V6, 5061, 2.0) == new.fingerprint:
                        break
                except (OSError, TimeoutError):
                    pass  # the prober counts failures
                if time.monotonic() - swapped > 15:
                    raise TimeoutError("the new certificate was not served within 15 s")
                await asyncio.sleep(0.02)
            latencies.append(time.monotonic() - swapped)
            await asyncio.sleep(0.3)
    finally:
        stop.set()
        for t in (task, probe):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
    return latencies, counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rotations", type=int, default=20)
    parser.add_argument("--debounce", type=float, nargs="+", default=[1.0, 0.2])
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (the lab needs network namespaces)", file=sys.stderr)
        return 2
    pbx = LabPbx(ensure_rootfs(), Path(tempfile.mkdtemp()))
    rows = []
    with LoadSampler() as sampler:
        try:
            pbx.set_site(tls_site())
            set_certificate(pbx, FIRST)
            pbx.start()
            assert pbx.ami is not None
            assert pbx.pod_loop is not None
            started = pbx.ami.action({"Action": "CoreStatus"})[0]["CoreStartupTime"]
            for debounce in args.debounce:
                latencies, counts = pbx.pod_loop.run(rotations(pbx, args.rotations, debounce), 600)
                rows.append((debounce, latencies, counts))
                print(
                    f"debounce {debounce} s: p50 {statistics.median(latencies):.3f} s, "
                    f"p99 {percentile(latencies, 0.99):.3f} s, max {max(latencies):.3f} s; "
                    f"handshakes meanwhile {counts}"
                )
            after = pbx.ami.action({"Action": "CoreStatus"})[0]["CoreStartupTime"]
        finally:
            pbx.stop()
    lines = [
        *header(
            "TLS certificate rotation: Secret swap to new certificate served",
            sampler.summary(),
            report=REPORT,
        ),
        "Asterisk 22 in the lab, the home example's tls transport, the real "
        "watch/debounce/apply/reload path.",
        "",
        "| debounce | rotations | p50 | p99 | max | handshakes during the run: ok / failed |",
        "|---|---|---|---|---|---|",
    ]
    for debounce, latencies, counts in rows:
        lines.append(
            f"| {debounce} s | {len(latencies)} | {statistics.median(latencies):.3f} s | "
            f"{quantile_text(latencies, 0.99, '{:.3f}', ' s')} | {max(latencies):.3f} s | "
            f"{counts['ok']} / {counts['failed']} |"
        )
    lines += [
        "",
        f"Asterisk restarted during the run: {'no' if started == after else 'YES'} "
        f"(CoreStartupTime {started} before and {after} after).",
    ]
    write(REPORT, "\n".join(lines))
    print(f"wrote {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
