"""The AMI client and Asterisk metrics against a real Asterisk 22, sipp and Debian's Prometheus.

One Asterisk for the module; each test compares counter deltas and makes the calls it counts, so
it passes alone and in any order (the restart test leaves a fresh Asterisk, the freeze test a
resumed one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.ami import LabAmi
from lab.amipbx import CLIENT_URI, QUALIFIED, SERVER_URI, AmiLab
from lab.asterisk import wait_until
from lab.prometheus import Prometheus, http_get
from supervisor import amiaccess

pytestmark = pytest.mark.lab

REG = {
    "username": CLIENT_URI,
    "domain": SERVER_URI,
    "channel_type": "PJSIP",
    "registration": "provider",
}


@pytest.fixture(scope="module")
def pbx(rootfs: Path) -> Iterator[AmiLab]:
    the_lab = AmiLab(rootfs)
    try:
        the_lab.start_asterisk()
        the_lab.start_supervisor()
        the_lab.wait_booted()
        wait_until(lambda: the_lab.on_loop(lambda: bool(the_lab.state.peers.endpoints)), 10)
        yield the_lab
    finally:
        the_lab.close()


def counts(pbx: AmiLab) -> dict[str, Any]:
    """A copy of the counters (read on the supervisor's loop)."""

    def copy() -> dict[str, Any]:
        s = pbx.state
        return {
            "calls": dict(s.calls.total),
            "causes": sum(s.calls.hangup_causes.values()),
            "duration": list(s.calls.duration.counts),
            "delay": list(s.calls.answer_delay.counts),
            "reconnects": s.ami_reconnects,
            "events": s.events_total,
        }

    return pbx.on_loop(copy)


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    keys = set(after) | set(before)
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) != before.get(k, 0)
    }


def finish(*uacs: Any, timeout: float = 40) -> None:
    for uac in uacs:
        try:
            uac.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{uac.name} did not finish: {uac.output()[-1500:]}")


def answered_calls(pbx: AmiLab) -> int:
    return pbx.on_loop(
        lambda: sum(1 for c in pbx.state.calls.active.values() if c.answered_at is not None)
    )


def test_trunk_status_follows_the_registrar(pbx: AmiLab) -> None:
    """Registrar up -> status 1 within 15 s; killed -> 2 within 20 s; back -> 1 again."""

    def status() -> float | None:
        return pbx.value("asterisk_pjsip_outbound_registration_status", **REG)

    assert status() != 1
    t0 = time.monotonic()
    pbx.start_registrar()
    wait_until(lambda: status() == 1, 15, interval=0.1, what="Registered")
    up_after = time.monotonic() - t0
    first_success = pbx.value(
        "asterisk_supervisor_registration_last_success_timestamp_seconds", registration="provider"
    )
    assert pbx.registrar is not None
    pbx.registrar.stop()
    t1 = time.monotonic()
    wait_until(lambda: status() == 2, 20, interval=0.1, what="Rejected after the registrar died")
    down_after = time.monotonic() - t1
    t2 = time.monotonic()
    pbx.start_registrar()
    wait_until(lambda: status() == 1, 15, interval=0.1, what="Registered again")
    print(
        f"registered {up_after:.1f} s after the registrar came up; rejected {down_after:.1f} s "
        f"after it died; registered {time.monotonic() - t2:.1f} s after it came back"
    )
    changes = pbx.value("asterisk_supervisor_registration_changes_total", registration="provider")
    assert changes is not None
    assert changes >= 3
    last = pbx.value(
        "asterisk_supervisor_registration_last_success_timestamp_seconds", registration="provider"
    )
    assert first_success is not None
    assert last is not None
    assert last > first_success


def test_endpoint_reachability_and_rtt_follow_qualify(pbx: AmiLab) -> None:
    """A qualified phone is reachable with its RTT; it stops answering -> 0; back -> 1. Phones
    without qualify have no reachability series (unknown, not 0)."""

    def reachable() -> float | None:
        return pbx.value("asterisk_supervisor_endpoint_reachable", endpoint=QUALIFIED)

    wait_until(lambda: reachable() == 1, 10, what="qualified phone reachable")
    rtt = pbx.value("asterisk_supervisor_endpoint_rtt_seconds", endpoint=QUALIFIED)
    assert rtt is not None
    assert 0 < rtt < 0.5
    assert pbx.value("asterisk_supervisor_endpoint_reachable", endpoint="phone1") is None
    pbx.far_ends[QUALIFIED].stop()
    wait_until(lambda: reachable() == 0, 10, what="unreachable once it stops answering")
    pbx.restart_far_end(QUALIFIED)
    wait_until(lambda: reachable() == 1, 10, what="reachable again")


def test_thirty_calls_counted_exactly_by_direction_and_outcome(pbx: AmiLab) -> None:
    """A mix of 30 calls (doorbell to phones, inbound, outbound; answered, busy, unanswered):
    exact counters, durations in the right buckets, answer delays no sooner than the far end's
    pause and within a second of margin after it."""
    before = counts(pbx)
    uacs = [
        pbx.call("doorbell", "10", calls=6, hold_ms=1000),  # phone1 answers after 1.5 s
        pbx.call("doorbell", "11", calls=3),  # phone2 busy
        pbx.call("doorbell", "12", calls=3),  # phone3 rings out (Dial timeout 2 s)
        pbx.call("provider", "100", calls=6, hold_ms=3000),
        pbx.call("provider", "101", calls=3),
        pbx.call("provider", "102", calls=3),
        pbx.call("doorbell", "20", calls=3, hold_ms=1000),  # provider answers after 0.5 s
        pbx.call("doorbell", "21", calls=3),  # provider busy
    ]
    finish(*uacs)
    wait_until(
        lambda: (
            sum(delta(counts(pbx)["calls"], before["calls"]).values()) >= 30
            and pbx.on_loop(lambda: pbx.state.calls.count) == 0
        ),
        10,
        what="30 calls ended",
    )
    after = counts(pbx)
    assert delta(after["calls"], before["calls"]) == {
        ("internal", "", "answered"): 6,
        ("internal", "", "busy"): 3,
        ("internal", "", "no_answer"): 3,
        ("inbound", "provider", "answered"): 6,
        ("inbound", "provider", "busy"): 3,
        ("inbound", "provider", "no_answer"): 3,
        ("outbound", "provider", "answered"): 3,
        ("outbound", "provider", "busy"): 3,
    }
    assert after["causes"] - before["causes"] == 30
    # Talk time: 9 calls held ~1 s land in (1, 2.5], 6 held ~3 s in (2.5, 5]; buckets are
    # le=1, 2.5, 5, ... (per bucket, not cumulative, in the state).
    duration = [a - b for a, b in zip(after["duration"], before["duration"], strict=True)]
    assert duration[:4] == [0, 9, 6, 0]
    assert sum(duration) == 15
    # Answer delay (buckets le=0.5, 1, 2, 3, ...): the provider answers after 0.5 s (3 calls),
    # phone1 after 1.5 s (12 calls). Never sooner than that pause; later by however long sipp's
    # and Asterisk's timers take under load (asserting the exact bucket made this test flaky:
    # 0.5 s of margin), so the upper side has 1.5 s: a delay measured to the hangup instead
    # (phone1's inbound calls are held 3 s) would still not fit.
    delay = [a - b for a, b in zip(after["delay"], before["delay"], strict=True)]
    assert delay[0] == 0  # nothing answered sooner than the provider's 0.5 s
    assert sum(delay[:2]) <= 3  # only the provider's answers can come within 1 s
    assert sum(delay[2:4]) >= 12  # phone1's answers: after 1.5 s, within 3 s
    assert sum(delay[:4]) == 15


def test_ami_cut_mid_call_resyncs_without_double_counting(pbx: AmiLab) -> None:
    """AMI connection cut while calls are up; one call ends meanwhile: after the reconnect the
    active calls match Asterisk and each call is counted exactly once."""
    before = counts(pbx)
    long_calls = pbx.call("doorbell", "10", calls=2, hold_ms=8000)
    short_call = pbx.call("provider", "100", calls=1, hold_ms=2500)
    wait_until(lambda: answered_calls(pbx) == 3, 10, what="3 answered calls")
    pbx.proxy.refuse = True
    pbx.on_loop(pbx.proxy.cut)
    wait_until(lambda: pbx.value("asterisk_supervisor_ami_connected") == 0, 5)
    finish(short_call, timeout=15)  # ends while we are not watching
    pbx.proxy.refuse = False
    wait_until(
        lambda: (
            pbx.value("asterisk_supervisor_ami_connected") == 1
            and counts(pbx)["reconnects"] > before["reconnects"]
            and pbx.on_loop(lambda: pbx.state.calls.count) == 2
        ),
        10,
        what="reconnect and re-sync",
    )
    assert pbx.client is not None
    truth = pbx.run_async(pbx.client.action({"Action": "CoreShowChannels"}))
    linked = {m["Linkedid"] for m in truth if m.get("Event") == "CoreShowChannel"}
    assert pbx.value("asterisk_supervisor_calls_active") == len(linked) == 2
    assert pbx.value("asterisk_supervisor_channels_active") == 4
    # The call that ended unseen is closed at the re-sync with the explicit outcome `lost`.
    assert delta(counts(pbx)["calls"], before["calls"]) == {("inbound", "provider", "lost"): 1}
    finish(long_calls, timeout=20)
    wait_until(lambda: pbx.value("asterisk_supervisor_calls_active") == 0, 5)
    after = counts(pbx)
    assert delta(after["calls"], before["calls"]) == {
        ("inbound", "provider", "lost"): 1,
        ("internal", "", "answered"): 2,
    }
    # The call that ended unseen has no talk time; the two watched ones do.
    assert sum(after["duration"]) - sum(before["duration"]) == 2


def test_prometheus_scrapes_metrics_and_promtool_accepts_them(pbx: AmiLab) -> None:
    """Debian's Prometheus in the pod scrapes /metrics: target up, the agreed series present;
    promtool parses the live exposition and lints only res_prometheus' fixed names."""
    # Its own inbound answered call (the series below exist only once one was counted).
    before = counts(pbx)
    finish(pbx.call("provider", "100", calls=1, hold_ms=300))
    wait_until(
        lambda: (
            delta(counts(pbx)["calls"], before["calls"]).get(("inbound", "provider", "answered"))
            == 1
        ),
        10,
        what="the inbound call counted",
    )
    prom = Prometheus(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: supervisor\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{pbx.http_port}']\n",
        lab=pbx.lab,
    ).start()
    try:
        wait_until(lambda: prom.query('up{job="supervisor"} == 1'), 15, what="target up")
        for series in (
            'asterisk_pjsip_outbound_registration_status{registration="provider"}',
            'asterisk_supervisor_calls_total{direction="inbound",outcome="answered"}',
            "asterisk_supervisor_call_duration_seconds_bucket",
            "asterisk_supervisor_ami_connected",
            "asterisk_core_uptime_seconds",
            "asterisk_calls_sum",
        ):
            wait_until(lambda s=series: prom.query(s), 5, what=series)  # type: ignore[misc]
    finally:
        prom.stop()
    text = http_get(f"http://127.0.0.1:{pbx.http_port}/metrics", pbx.lab.pod)
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    problems = (result.stdout + result.stderr).decode().strip().splitlines()
    assert result.returncode in (0, 3), problems
    legacy = ("asterisk_core_", "asterisk_calls_", "asterisk_channels_", "asterisk_endpoints_")
    assert all(p.startswith((*legacy, "asterisk_bridges_")) for p in problems), problems


def test_the_rendered_user_may_send_every_listed_action(pbx: AmiLab) -> None:
    """Each action in amiaccess.ACTIONS, sent as the rendered supervisor user, is not refused for
    lack of privilege (the write classes grant exactly what the code sends)."""
    ami = LabAmi(pbx.lab.pod, pbx.ami_user, pbx.ami_secret)
    try:
        ami.connect()
        for name in amiaccess.ACTIONS:
            # A harmless target: a module reload and a re-register of objects that do not exist.
            fields = {"Module": "nonexistent.so", "Registration": "none", "Endpoint": "none"}
            reply = ami.action({"Action": name, **fields})
            assert "Permission denied" not in reply[0].get("Message", ""), (name, reply[0])
    finally:
        ami.close()


def test_event_volume_per_call_with_and_without_filters(pbx: AmiLab) -> None:
    """The rendered user's classes and filters cut the AMI events per call several-fold; every
    event carries Asterisk's Timestamp."""
    unfiltered = LabAmi(pbx.lab.pod, pbx.all_user, pbx.all_secret)
    try:
        unfiltered.connect()
        time.sleep(0.3)
        base_all, base_ours = len(unfiltered.events), counts(pbx)["events"]
        calls = [
            pbx.call("doorbell", "10", calls=4, hold_ms=300),
            pbx.call("provider", "101", calls=4),
        ]
        finish(*calls)
        wait_until(lambda: pbx.on_loop(lambda: pbx.state.calls.count) == 0, 10)
        time.sleep(0.5)
        per_call_all = (len(unfiltered.events) - base_all) / 8
        per_call_ours = (counts(pbx)["events"] - base_ours) / 8
    finally:
        unfiltered.close()
    print(f"AMI events per call: {per_call_all:.1f} unfiltered, {per_call_ours:.1f} filtered")
    assert per_call_ours * 3 < per_call_all
    # The rendered `timestampevents = yes`: every event carries Asterisk's own time, which the
    # state uses for durations (a backlog on our side does not stretch them).
    timed = [e for e in unfiltered.events if e.get("Event") in ("Newchannel", "Newstate", "Hangup")]
    assert len(timed) >= 8
    missing = [e for e in timed if float(e.get("Timestamp", "0")) <= 1e9]
    assert not missing, missing[:3]


def test_asterisk_restart_mid_call_counts_each_call_once(pbx: AmiLab) -> None:
    """Asterisk restarted while calls are up: after the reconnect no call is active and each of
    them was counted exactly once; uptime starts over."""
    before = counts(pbx)
    uac = pbx.call("doorbell", "10", calls=2, hold_ms=10000)
    wait_until(lambda: answered_calls(pbx) == 2, 10, what="2 answered calls")
    pbx.asterisk.stop()
    pbx.asterisk.start()
    wait_until(
        lambda: (
            pbx.value("asterisk_supervisor_ami_connected") == 1
            and counts(pbx)["reconnects"] > before["reconnects"]
            and pbx.value("asterisk_core_uptime_seconds") is not None
        ),
        20,
        what="reconnected to the new Asterisk",
    )
    pbx.wait_booted()
    wait_until(lambda: pbx.value("asterisk_supervisor_calls_active") == 0, 5)
    uac.stop()
    uptime = pbx.value("asterisk_core_uptime_seconds")
    assert uptime is not None
    assert uptime < 30
    assert delta(counts(pbx)["calls"], before["calls"]) == {("internal", "", "answered"): 2}


def test_freeze_mid_call_then_resume_leaves_no_phantom_call(pbx: AmiLab) -> None:
    """Asterisk frozen (SIGSTOP) during a call, the caller hangs up meanwhile, SIGCONT: the AMI
    session that went silent is dropped, and after the re-sync no phantom call is left; the call
    whose end was not seen is counted once, as `lost`."""
    before = counts(pbx)
    uac = pbx.call("doorbell", "10", calls=1, hold_ms=2000)  # phone1 answers after 1.5 s
    wait_until(lambda: answered_calls(pbx) == 1, 10, what="the call answered")
    pid = pbx.asterisk.pid
    pbx.proxy.refuse = True  # keep us away until Asterisk has processed the BYE
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(
            lambda: pbx.value("asterisk_supervisor_ami_connected") == 0,
            10,
            what="the silent session dropped (ping timeout)",
        )
        assert pbx.on_loop(lambda: pbx.state.calls.count) == 1  # gauge hidden: unknown
        time.sleep(1.0)  # the caller's BYE goes out while Asterisk is frozen
    finally:
        os.kill(pid, signal.SIGCONT)
    finish(uac, timeout=40)  # sipp retransmits the BYE; the resumed Asterisk answers it
    pbx.proxy.refuse = False
    wait_until(
        lambda: (
            pbx.value("asterisk_supervisor_ami_connected") == 1
            and counts(pbx)["reconnects"] > before["reconnects"]
            and pbx.value("asterisk_supervisor_calls_active") == 0
        ),
        15,
        what="reconnected and re-synced without the call",
    )
    assert pbx.client is not None
    truth = pbx.run_async(pbx.client.action({"Action": "CoreShowChannels"}))
    assert [m for m in truth if m.get("Event") == "CoreShowChannel"] == []
    assert pbx.value("asterisk_supervisor_channels_active") == 0
    assert delta(counts(pbx)["calls"], before["calls"]) == {("internal", "", "lost"): 1}
