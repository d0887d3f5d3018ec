"""Phone feature codes on the real Asterisk 22: a registered phone switches do-not-disturb and
forwards for itself (astdb), calls to it follow (no-answer path, the forward target rings, ring
groups skip it), the state survives an Asterisk restart, and the product's reader shows it for
/status."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.ami import LabAmi, NetnsLoop
from lab.flowlab import (
    PASSWORDS,
    Case,
    FlowPbx,
    Generated,
    generate,
    load,
    observe,
    report_line,
    run_cases,
)
from lab.voicemail import dial_with_dtmf
from supervisor.ami.client import AmiSettings
from supervisor.app import build_ami, build_core
from supervisor.settings import Settings

pytestmark = pytest.mark.lab

DESK_DID = "+4930100001"
TEAM_DID = "+4930100002"


def features_site() -> dict[str, Any]:
    """desk (with a box, 11), kitchen (12), hall (13); a DID to desk, one to a group."""
    site = generate(random.Random(3), datetime.datetime.now(datetime.UTC), 0, "fwd").site
    plan = site["dialplan"]
    for key in ("menus", "announcements", "time_conditions"):
        plan[key] = {}
    plan.pop("screening", None)
    plan["ring_time"] = 5
    plan["ring_groups"] = {"team": {"endpoints": ["desk", "kitchen"], "ring_time": 5}}
    plan["inbound"] = {DESK_DID: "desk", TEAM_DID: "team"}
    site["trunks"]["provider"]["dids"] = [DESK_DID, TEAM_DID]
    return site


@pytest.fixture(scope="module")
def pbx(rootfs: Path) -> Iterator[FlowPbx]:
    harness = FlowPbx(rootfs)
    try:
        harness.start(features_site())
        harness.apply(Generated(features_site(), night=[], cases=[]))
        yield harness
    finally:
        harness.close()


def dial(pbx: FlowPbx, number: str) -> int | None:
    """desk dials `number`; it got a final answer."""
    code = pbx.dial_code(number)
    assert code is not None, number
    return code


def rung_for(pbx: FlowPbx, name: str) -> list[str]:
    """The phones rung for case `name`'s call, on any of its channels (a forward's Local one
    too), in order."""
    assert pbx.ami is not None
    caller = next(
        e["Uniqueid"]
        for e in pbx.ami.events
        if e.get("Event") == "Newchannel" and e.get("CallerIDName") == name
    )
    return [
        e.get("DestChannel", "").rsplit("-", 1)[0]
        for e in pbx.ami.events
        if e.get("Event") == "DialBegin"
        and e.get("Linkedid") == caller
        and e.get("DestChannel", "").startswith("PJSIP/")
    ]


def call(pbx: FlowPbx, number: str, **state: Any) -> tuple[list[str], str]:
    """One provider call, predicted with the given astdb state: (disagreements, case name)."""
    assert pbx.ami is not None
    name = f"feat{len(pbx.ami.events)}"
    generated = Generated(features_site(), [], [Case(name, number, (), "030555")], **state)
    results = run_cases(pbx, generated)
    return [report_line(r) for r in results if r.problems], name


def test_dnd_and_forward_codes_are_honoured_and_survive_a_restart(pbx: FlowPbx) -> None:
    """*78: calls to desk go to its box unrung, the group rings kitchen alone (nobody when
    kitchen has DND too), its BLF lamp lights; *79 undoes it;
    *7212: a call to desk rings kitchen (the forward target), then desk's box; *5213: desk
    rings, then hall, then desk's box; a too long target is refused; *90 then 13# at the
    prompt sets the busy forward; Asterisk logs no warning; after an Asterisk restart
    the forward is still in astdb and the product's reader shows it."""
    assert pbx.ami is not None
    dial(pbx, "*78")
    assert pbx.db("supervisor-dnd", "desk") == "1"
    assert pbx.lamp("dnd-desk") == "InUse"
    assert pbx.lamp("dnd-kitchen") == "Idle"
    problems, name = call(pbx, DESK_DID, dnd=["desk"])
    assert not problems
    seen = observe(pbx.ami.events, name)
    assert seen is not None
    assert (seen.rings, seen.voicemail) == ([], "11")
    problems, name = call(pbx, TEAM_DID, dnd=["desk"])
    assert not problems
    seen = observe(pbx.ami.events, name)
    assert seen is not None
    assert [r for r, _ in seen.rings] == [("kitchen",)]
    assert rung_for(pbx, name) == ["PJSIP/kitchen"]
    # Every member on DND: nobody rings, the group ends at once (no fallback: hang up).
    pbx.ami.action({"Action": "DBPut", "Family": "supervisor-dnd", "Key": "kitchen", "Val": "1"})
    problems, name = call(pbx, TEAM_DID, dnd=["desk", "kitchen"])
    assert not problems
    assert rung_for(pbx, name) == []
    pbx.ami.action({"Action": "DBDel", "Family": "supervisor-dnd", "Key": "kitchen"})

    dial(pbx, "*79")
    assert pbx.db("supervisor-dnd", "desk") is None
    assert pbx.lamp("dnd-desk") == "Idle"

    dial(pbx, "*7212")
    assert pbx.db("supervisor-forward", "desk") == "12"
    _, name = call(pbx, DESK_DID, forwards={"desk": {"always": "12"}})
    seen = observe(pbx.ami.events, name)
    assert seen is not None
    assert seen.voicemail == "11"
    assert rung_for(pbx, name) == ["PJSIP/kitchen"]
    dial(pbx, "*73")
    assert pbx.db("supervisor-forward", "desk") is None

    # No answer within the ring time: desk rings, then the target, then desk's box.
    dial(pbx, "*5213")
    _, name = call(pbx, DESK_DID, forwards={"desk": {"noanswer": "13"}})
    seen = observe(pbx.ami.events, name)
    assert seen is not None
    assert seen.voicemail == "11"
    assert rung_for(pbx, name) == ["PJSIP/desk", "PJSIP/hall"]
    # A target over max_forward_digits (20) is refused (cause 28: 484) and nothing is stored.
    assert dial(pbx, "*72" + "0" * 21) == 484
    assert pbx.db("supervisor-forward", "desk") is None
    dial(pbx, "*53")
    # The code alone: the number keyed in at the prompt, ended by #.
    caller = dial_with_dtmf(
        pbx.lab, pbx.run, "desk", PASSWORDS["desk"], "*90", [(1.5, "13#")], name="features-prompt"
    )
    assert caller.wait(60) == 0, caller.output()[-2000:]
    assert pbx.db("supervisor-forward-busy", "desk") == "13"
    dial(pbx, "*91")
    assert pbx.db("supervisor-forward-busy", "desk") is None
    dial(pbx, "*7212")

    # Nothing the codes or the rings did made Asterisk warn (a missing astdb key, a Gosub).
    assert pbx.asterisk.problems() == []
    pbx.ami.close()
    pbx.asterisk.stop()
    pbx.asterisk.start()
    pbx.ami = LabAmi(pbx.lab.pod, "labtest", pbx.test_secret)
    pbx.ami.connect()
    pbx.ami.wait_fully_booted()
    assert pbx.db("supervisor-forward", "desk") == "12"
    assert product_status(pbx) == [{"phone": "desk", "forward_always": "12"}]


def product_status(pbx: FlowPbx) -> object:
    """The `/status` section as the product's AMI slice reads it from this Asterisk."""
    loaded = load(features_site())
    loop = NetnsLoop(pbx.lab.pod)
    try:

        async def read() -> object:
            core = build_core(Settings(config_dirs=()))
            login = AmiSettings(
                username=pbx.context.ami_username,
                secret=pbx.context.ami_secret,
                port=pbx.context.ami_port,
            )
            ami = build_ami(core, login)
            task = asyncio.create_task(ami.client.run())
            try:
                async with asyncio.timeout(20):
                    await ami.client.fully_booted.wait()
                ami.features.on_config(loaded)
                await ami.features.refresh()
                return ami.features.status()["phones"]
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        return loop.run(read(), 30)
    finally:
        loop.close()
