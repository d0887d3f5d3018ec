"""`explain` agrees with the real Asterisk: random sites with call flows, random calls (numbers,
key presses, time of day in random zones, night switches), the phones Asterisk rang, for how long,
and how the call ended (lab.flowlab; bench/bench_explain.py runs a thousand)."""

from __future__ import annotations

import datetime
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import dialer, netns
from lab.flowlab import PASSWORDS, Case, FlowPbx, Generated, generate, report_line, run_cases
from lab.phones import PHONES_V6
from supervisor.site.flows import DAYS

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
        codes = dialer.dial(
            pbx.lab,
            pbx.run,
            "provider",
            PHONES_V6,
            f"[{netns.POD_V6}]:5060",
            [("code", number)],
            user="desk",
            password=PASSWORDS["desk"],
            name="codes-dialer",
        )
        assert codes["code"] is not None, codes

    def db(family: str, key: str) -> str | None:
        reply = pbx.ami.action({"Action": "DBGet", "Family": family, "Key": key}) if pbx.ami else []
        values = [m.get("Val") for m in reply if m.get("Event") == "DBGetResponse"]
        return values[0] if values else None

    def lamp() -> str:
        state = {"Action": "ExtensionState", "Exten": "*31", "Context": "extensions"}
        reply = pbx.ami.action(state) if pbx.ami else []
        return reply[0].get("StatusText", "") if reply else ""

    def call(caller: str, night: list[str], blocked: list[str]) -> list[str]:
        case = Case(f"codes{len(pbx.ami.events) if pbx.ami else 0}", "+4930100000", (), caller)
        results = run_cases(pbx, Generated(generated.site, night, [case], blocked))
        return [report_line(r) for r in results if r.problems] + [
            f"{r.predicted.outcome.kind} {r.predicted.outcome.detail}" for r in results
        ]

    phone_dials("*31")
    assert db("supervisor-night", "office") == "1"
    assert lamp() == "InUse"
    assert call("030555", ["office"], []) == ["hangup 17"]
    phone_dials("*31")
    assert db("supervisor-night", "office") == "0"
    assert lamp() == "Idle"
    assert call("030555", [], []) == ["hangup 16"]
    phone_dials("*60015100000009")
    assert db("supervisor-block", "+4915100000009") == "1"
    assert call("015100000009", [], ["+4915100000009"]) == ["hangup 21"]
    phone_dials("*61015100000009")
    assert db("supervisor-block", "+4915100000009") is None
    assert call("015100000009", [], []) == ["hangup 16"]
