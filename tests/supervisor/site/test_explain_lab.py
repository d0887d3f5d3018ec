"""`explain` agrees with the real Asterisk: random sites with call flows, random calls (numbers,
key presses, time of day in random zones, night switches, site audio files), the phones Asterisk
rang, for how long, the prompts it played, and how the call ended (lab.flowlab;
bench/bench_explain.py runs a thousand)."""

from __future__ import annotations

import datetime
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.flowlab import (
    Case,
    FlowPbx,
    Generated,
    covering,
    covers,
    generate,
    report_line,
    run_cases,
)
from supervisor.site.flows import DAYS

pytestmark = pytest.mark.lab

SITES = 2
CALLS = 4


@pytest.fixture(scope="module")
def pbx(rootfs: Path) -> Iterator[FlowPbx]:
    first = generate(random.Random(0), datetime.datetime.now(datetime.UTC), 0, "boot")
    harness = FlowPbx(rootfs)
    try:
        yield harness.start(first.site, first.audio)
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


#: What the new-flows case must go through (lab.flowlab.covers), and its bounded size.
NEW_FLOWS = ("site greeting", "site prompt", "do-not-disturb", "forward target rung")
NEW_FLOW_CALLS = 6


def test_explain_predicts_site_audio_files_dnd_and_forwards(pbx: FlowPbx) -> None:
    """A derandomized site (the first seed whose calls cover NEW_FLOWS) playing its own audio
    files as greetings and prompts, with phones on do-not-disturb and forwarding (astdb): each
    stored copy is its file, plays as its audio:NAME for its length, explain's figure is that
    length, a DND phone is not rung and a forward's target rings as predicted."""
    seed, generated = covering(datetime.datetime.now(datetime.UTC), NEW_FLOW_CALLS, "n", NEW_FLOWS)
    pbx.apply(generated)
    results = run_cases(pbx, generated)
    assert len(results) == NEW_FLOW_CALLS
    found = set().union(*(covers(r.predicted) for r in results))
    assert found >= set(NEW_FLOWS), found
    lines = [report_line(r) for r in results if r.problems]
    assert not lines, f"seed {seed}:\n" + "\n".join(lines)


def codes_site() -> dict[str, Any]:
    """Office always open unless night mode; blocked callers refused; codes for both."""
    generated = generate(random.Random(1), datetime.datetime.now(datetime.UTC), 0, "codes")
    site = generated.site
    plan = site["dialplan"]
    for key in ("menus", "announcements", "ring_groups"):
        plan[key] = {}
    plan["time_conditions"] = {
        "office": {
            "timezone": "UTC",
            "open": [{"days": list(DAYS)}],
            "when_open": "hangup:normal",
            "when_closed": "hangup:busy",
            "override": "*31",
        }
    }
    plan["screening"] = {
        "blocked": "hangup:rejected",
        "block_code": "*60",
        "unblock_code": "*61",
        "country_code": "49",
    }
    plan["inbound"] = {"+4930100000": "office"}
    site["trunks"]["provider"]["dids"] = ["+4930100000"]
    site["trunks"]["provider"]["country_code"] = "49"
    return site


def test_phone_codes_switch_night_mode_and_the_blocklist(pbx: FlowPbx) -> None:
    """A phone dialling *31 switches night mode (astdb, BLF state of *31), *60 NUMBER blocks a
    caller given in national form (+49...), *61 unblocks; calls follow, as explain predicts."""
    assert pbx.ami is not None
    generated = Generated(codes_site(), night=[], cases=[])
    pbx.apply(generated)

    def phone_dials(number: str) -> None:
        assert pbx.dial_code(number) is not None

    def call(caller: str, night: list[str], blocked: list[str]) -> list[str]:
        case = Case(f"codes{len(pbx.ami.events) if pbx.ami else 0}", "+4930100000", (), caller)
        results = run_cases(pbx, Generated(generated.site, night, [case], blocked))
        return [report_line(r) for r in results if r.problems] + [
            f"{r.predicted.outcome.kind} {r.predicted.outcome.detail}" for r in results
        ]

    phone_dials("*31")
    assert pbx.db("supervisor-night", "office") == "1"
    assert pbx.lamp("*31") == "InUse"
    assert call("030555", ["office"], []) == ["hangup 17"]
    phone_dials("*31")
    assert pbx.db("supervisor-night", "office") == "0"
    assert pbx.lamp("*31") == "Idle"
    assert call("030555", [], []) == ["hangup 16"]
    phone_dials("*60015100000009")
    assert pbx.db("supervisor-block", "+4915100000009") == "1"
    assert call("015100000009", [], ["+4915100000009"]) == ["hangup 21"]
    phone_dials("*61015100000009")
    assert pbx.db("supervisor-block", "+4915100000009") is None
    assert call("015100000009", [], []) == ["hangup 16"]
