"""`explain` agrees with the real Asterisk: random sites with call flows, random calls (numbers,
key presses, time of day in random zones, night switches), the phones Asterisk rang, for how long,
and how the call ended (lab.flowlab; bench/bench_explain.py runs a thousand)."""

from __future__ import annotations

import datetime
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.flowlab import FlowPbx, generate, report_line, run_cases

pytestmark = pytest.mark.lab

SITES = 2
CALLS = 4


@pytest.fixture(scope="module")
def pbx(rootfs: Path) -> Iterator[FlowPbx]:
    first = generate(random.Random(0), datetime.datetime.now(datetime.UTC), 0, "boot")
    harness = FlowPbx(rootfs)
    try:
        yield harness.start(first.site)
    finally:
        harness.close()


def test_explain_predicts_what_asterisk_does(pbx: FlowPbx) -> None:
    """For random sites and calls, the rung phones, ring times and end match the prediction."""
    seed = int(os.environ.get("FLOW_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    lines = []
    for index in range(SITES):
        generated = generate(rng, datetime.datetime.now(datetime.UTC), CALLS, f"s{index}")
        pbx.apply(generated)
        results = run_cases(pbx, generated)
        lines += [report_line(r) for r in results if r.problems]
    assert not lines, f"seed {seed}:\n" + "\n".join(lines)
