"""The entrypoint's start-up time and idle cost, with the real Asterisk in the lab.

    python -m bench.bench_entrypoint [--runs N] [--idle-seconds S] [--report PATH]

Cold start: the supervisor process is started in the pod namespace with the example site (the
addresses are already usable, as they are once Calico has set up the pod); we time until /readyz
answers 200 (wall clock, Python start-up included) and read the supervisor's own log line for the
time from its start to Asterisk's FullyBooted. Idle: after ready, the supervisor's RSS and its CPU
time (utime+stime from /proc) over S seconds with the trunk registered and no calls. Targets:
ready under 2 s after the addresses are usable; RSS under 80 MB; idle CPU under 1% of a core.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from pathlib import Path

from bench.report import LoadSampler, header, write
from lab import netns, sipp
from lab.asterisk import RunDir
from lab.netns import Lab
from lab.paths import REPO
from lab.rootfs import ensure_rootfs
from lab.supervisor import SupervisorRun, read_dir

REPORT = Path(__file__).resolve().parent / "reports" / "entrypoint.md"
EXAMPLE = REPO / "examples" / "home"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def one_start(lab: Lab, rootfs: Path, index: int, idle_s: float) -> dict[str, float]:
    run = RunDir(rootfs, f"{lab.prefix}-bench{index}").create()
    secrets = read_dir(EXAMPLE / "secrets")
    registrar = sipp.registrar(
        lab, run, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    sup = SupervisorRun(lab, run, read_dir(EXAMPLE / "site"), secrets)
    try:
        sup.start()
        wall = sup.wait_ready(60)
        match = re.search(r"ready ([0-9.]+) s after start", sup.output())
        internal = float(match.group(1)) if match else float("nan")
        result = {"wall_ready_s": wall, "internal_ready_s": internal}
        if idle_s:
            assert sup.process is not None
            pid = sup.process.pid
            time.sleep(12)  # let the trunk register and the start-up work settle
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            peak = 0.0
            while time.monotonic() - t0 < idle_s:
                peak = max(peak, rss_mb(pid))
                time.sleep(1)
            result["idle_cpu_percent"] = 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
            result["rss_mb"] = peak
            result["registered"] = float(
                sup.metric("asterisk_pjsip_outbound_registration_status") == 1.0
            )
        return result
    finally:
        sup.stop()
        registrar.stop()
        run.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    rootfs = ensure_rootfs()
    results = []
    with LoadSampler() as load, Lab() as lab:
        for i in range(args.runs):
            results.append(one_start(lab, rootfs, i, args.idle_seconds if i == 0 else 0))
            print(f"run {i}: {results[-1]}", flush=True)
    walls = [r["wall_ready_s"] for r in results]
    internals = [r["internal_ready_s"] for r in results]
    idle = results[0]
    lines = [
        *header("Entrypoint: cold start and idle cost", load.summary(), report=args.report),
        f"{platform.machine()}, Asterisk 22 from the lab's sid tree.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| process start → /readyz 200, median of {len(walls)} (wall, incl. Python start-up) "
        f"| {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}) | |",
        f"| supervisor start → Asterisk FullyBooted and config live, median "
        f"| {statistics.median(internals):.2f} s (max {max(internals):.2f}) | < 2 s |",
        f"| RSS of the supervisor, peak over {args.idle_seconds:.0f} s idle "
        f"| {idle['rss_mb']:.1f} MB | < 80 MB |",
        f"| CPU of the supervisor over {args.idle_seconds:.0f} s idle (trunk registered: "
        f"{'yes' if idle['registered'] else 'no'}) | {idle['idle_cpu_percent']:.2f} % of a core "
        "| < 1 % |",
        "",
        "Addresses are usable before the supervisor starts, so both start-up figures are "
        '"after the addresses are usable". Asterisk\'s own RSS is not included.',
    ]
    write(args.report, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
