"""`explain` against the real Asterisk, at scale: at least 1,000 random calls into random sites
with call flows (lab.flowlab), each compared with the prediction; agreement must be 100 %.

    .venv/bin/python -m bench.bench_explain [--calls 1000] [--per-site 10] [--parallel 8]

Writes bench/reports/explain.md; exits 1 when any call differs from its prediction.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import random
import signal
import sys
import time
from pathlib import Path

from bench.report import REPORTS, LoadSampler, header, write
from lab.flowlab import FlowPbx, Result, covers, generate, report_line, run_cases
from lab.rootfs import ensure_rootfs

REPORT = REPORTS / "explain.md"


def features(result: Result) -> set[str]:
    """What the call went through, by the prediction."""
    kinds = {step.kind for step in result.predicted.steps}
    found = {f"ended in {result.predicted.outcome.kind}"}
    found |= {
        k
        for k in ("menu", "press", "timeout", "announcement", "ring", "time", "screening")
        if k in kinds
    }
    texts = " ".join(step.text for step in result.predicted.steps)
    if "holidays[" in texts:
        found.add("holiday")
    if "night mode on" in texts:
        found.add("night mode")
    if "inbound any" in texts:
        found.add("any number")
    if "fallback" in kinds:
        found.add("fallback")
    return found | covers(result.predicted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--per-site", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    results: list[Result] = []
    started = time.monotonic()
    # Stopped with SIGTERM: still tear the lab down (namespaces, Asterisk, sipp).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    pbx = FlowPbx(ensure_rootfs())
    try:
        with LoadSampler() as load:
            first = generate(random.Random(0), datetime.datetime.now(datetime.UTC), 0, "boot")
            pbx.start(first.site, first.audio)
            sites = 0
            while len(results) < args.calls:
                calls = min(args.per_site, args.calls - len(results))
                generated = generate(rng, datetime.datetime.now(datetime.UTC), calls, f"s{sites}")
                pbx.apply(generated)
                results += run_cases(pbx, generated, parallel=args.parallel)
                sites += 1
                print(
                    f"{len(results)} calls, {sum(bool(r.problems) for r in results)} differ",
                    flush=True,
                )
    finally:
        pbx.close()
    wall = time.monotonic() - started
    differ = [r for r in results if r.problems]
    agree = len(results) - len(differ)
    counts: collections.Counter[str] = collections.Counter()
    for result in results:
        counts.update(features(result))
    lines = [
        *header("explain against the real Asterisk", load.summary(), report=args.report),
        f"{len(results):,} calls into {sites} random sites (seed {seed}, {args.per_site} calls a "
        f"site, {args.parallel} at a time), {wall / 60:.1f} minutes. Each call's prediction "
        "(`supervisor.site.explain`, from the model alone, at the moment the call starts) is "
        "compared with what Asterisk 22 did, from the AMI events of every channel of the call: "
        "the phones rung (a forward's target too), for how long (within 1.5 s), each prompt "
        "and menu greeting played (by name, a site audio file's stored copy as its audio:NAME; "
        "for its length within 0.5 s; explain's length of a site file exactly), and the end "
        "(voicemail box or hang-up cause).",
        "",
        f"**Agreement: {agree:,} of {len(results):,} calls "
        f"({100 * agree / max(1, len(results)):.1f} %).** Target 100 %: "
        f"{'met' if not differ else 'NOT met'}.",
        "",
        "| the call went through (prediction) | calls |",
        "|---|---|",
        *(f"| {name} | {count:,} |" for name, count in sorted(counts.items())),
    ]
    if differ:
        lines += ["", "## Calls that differ", "", *(f"- {report_line(r)}" for r in differ[:100])]
    write(args.report, "\n".join(lines))
    print(f"agreement {agree}/{len(results)}; report {args.report}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
