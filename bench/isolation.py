"""Test isolation check: every test module alone, and (with --reverse) its tests in reverse order.

    python -m bench.isolation [--reverse] [--no-lab] [--report bench/reports/isolation.md] [PATH...]

A test that only passes after another one ran (shared state, a call an earlier test made, a
fixture's leftovers) fails here while the whole suite passes. Each module runs in its own pytest
process, so nothing leaks between modules; --reverse also runs each module's tests in reverse
order (pytest keeps the order of node ids given on its command line), which catches a dependency
on an earlier test of the same module. Prints one line per module and writes a markdown report.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from bench.report import LoadSampler, LoadSummary, header, write
from lab.paths import REPO


@dataclass(frozen=True)
class Outcome:
    module: str
    order: str
    tests: int
    code: int
    seconds: float
    tail: str

    @property
    def ok(self) -> bool:
        # 5: nothing collected (e.g. every test deselected by -m): not a failure of isolation.
        return self.code in (0, 5)


def collect(paths: list[str], marker: str | None) -> OrderedDict[str, list[str]]:
    """Node ids grouped by module, in collection order."""
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", *paths]
    if marker:
        argv += ["-m", marker]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
    modules: OrderedDict[str, list[str]] = OrderedDict()
    for line in done.stdout.splitlines():
        if "::" in line and not line.startswith(" "):
            modules.setdefault(line.split("::", 1)[0], []).append(line.strip())
    return modules


def run(module: str, ids: list[str], order: str, marker: str | None, timeout: float) -> Outcome:
    targets = [module] if order == "file order" else list(reversed(ids))
    argv = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *targets]
    if marker:
        argv += ["-m", marker]
    start = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        code, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        code, out = -1, f"timed out after {timeout:.0f} s"
    tail = "\n".join(out.strip().splitlines()[-3:])
    return Outcome(module, order, len(ids), code, time.monotonic() - start, tail)


def report(outcomes: list[Outcome], load: LoadSummary, path: Path | None = None) -> str:
    lines = [
        *header("Test isolation: each module alone", load, report=path),
        "Each module in its own pytest process; `--reverse` also runs its tests in reverse order.",
        "",
        "| module | order | tests | result | seconds |",
        "|---|---|---:|---|---:|",
    ]
    for o in outcomes:
        result = "pass" if o.code == 0 else ("none selected" if o.code == 5 else f"FAIL ({o.code})")
        lines.append(f"| {o.module} | {o.order} | {o.tests} | {result} | {o.seconds:.1f} |")
    failed = [o for o in outcomes if not o.ok]
    lines += ["", f"{len(outcomes) - len(failed)} of {len(outcomes)} runs passed."]
    for o in failed:
        lines += ["", f"## {o.module} ({o.order})", "", "```", o.tail, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.isolation", description=__doc__)
    parser.add_argument("paths", nargs="*", default=["tests"])
    parser.add_argument("--reverse", action="store_true", help="also run each module reversed")
    parser.add_argument("--no-lab", action="store_true", help="skip lab tests (-m 'not lab')")
    parser.add_argument("--timeout", type=float, default=900.0, help="per module run (s)")
    parser.add_argument("--report", type=Path, help="write the markdown report here")
    args = parser.parse_args()
    marker = "not lab" if args.no_lab else None
    modules = collect(args.paths, marker)
    outcomes = []
    with LoadSampler() as load:
        for module, ids in modules.items():
            orders = ["file order"] + (["reversed"] if args.reverse and len(ids) > 1 else [])
            for order in orders:
                outcome = run(module, ids, order, marker, args.timeout)
                outcomes.append(outcome)
                status = "ok" if outcome.ok else f"FAILED ({outcome.code})"
                print(f"{status:12} {outcome.seconds:6.1f} s  {module} ({order}, {len(ids)} tests)")
                if not outcome.ok:
                    print("    " + outcome.tail.replace("\n", "\n    "))
    if args.report:
        write(args.report, report(outcomes, load.summary(), args.report))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
