"""The Asterisk collector and the exposition: agreed names, res_prometheus types, valid text."""

from __future__ import annotations

import subprocess

from prometheus_client import CollectorRegistry, Counter

from lab import required
from supervisor.ami.state import AsteriskState
from supervisor.metrics.asterisk import AsteriskCollector
from supervisor.metrics.exposition import render
from tests.supervisor.ami.events import (
    contact_status,
    dialend,
    hangup,
    newchannel,
    registration_detail,
    up,
)

URI = "sip:pod1@[2001:db8:5060::10]:5060"


def busy_state() -> AsteriskState:
    s = AsteriskState(trunks={"provider": "acme"})
    s.set_connected(True, 0.0)
    s.set_synced()
    s.event({"Event": "FullyBooted", "Uptime": "100", "LastReload": "40"}, 1000.0)
    s.core_settings({"AsteriskVersion": "22.10.1"})
    s.core_status({"CoreCurrentCalls": "1", "CoreProcessedCalls": "7"})
    s.snapshot(
        "PJSIPShowRegistrationsOutbound", [registration_detail("acme", URI, "Registered")], 1000.0
    )
    s.snapshot("PJSIPShowEndpoints", [{"Event": "EndpointList", "ObjectName": "phone1"}], 1000.0)
    s.event(contact_status("phone1", "sip:a@x", "Reachable", "2500"), 1000.0)
    for t, e in enumerate(
        [
            newchannel("PJSIP/provider-00000001", "1.1"),
            dialend("1.1", "1.1", "ANSWER"),
            up("PJSIP/provider-00000001", "1.1"),
            hangup("PJSIP/provider-00000001", "1.1"),
            newchannel("PJSIP/phone1-00000002", "2.1"),
        ]
    ):
        s.event(e, 1000.0 + t)
    return s


def registry_for(state: AsteriskState) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(AsteriskCollector(state, clock=lambda: 1010.0))
    return registry


def test_values_by_agreed_names() -> None:
    """Each agreed series carries the state's value under its agreed name and labels."""
    r = registry_for(busy_state())
    get = r.get_sample_value
    labels = {"username": URI, "domain": "sip:[2001:db8:5060::10]:5060", "channel_type": "PJSIP"}
    assert (
        get("asterisk_pjsip_outbound_registration_status", {**labels, "registration": "acme"}) == 1
    )
    assert get("asterisk_supervisor_registration_changes_total", {"registration": "acme"}) == 0
    assert get("asterisk_supervisor_endpoint_reachable", {"endpoint": "phone1"}) == 1
    assert get("asterisk_supervisor_endpoint_rtt_seconds", {"endpoint": "phone1"}) == 0.0025
    key = {"direction": "inbound", "trunk": "acme", "outcome": "answered"}
    assert get("asterisk_supervisor_calls_total", key) == 1
    assert get("asterisk_supervisor_call_duration_seconds_bucket", {"le": "1.0"}) == 1
    assert get("asterisk_supervisor_call_answer_delay_seconds_count") == 1
    assert get("asterisk_supervisor_calls_active") == 1
    assert get("asterisk_supervisor_channels_active") == 1
    assert get("asterisk_supervisor_asterisk_info", {"version": "22.10.1"}) == 1
    assert get("asterisk_core_uptime_seconds") == 110
    assert get("asterisk_core_last_reload_seconds") == 50
    assert get("asterisk_calls_count") == 1
    assert get("asterisk_calls_sum") == 7
    assert get("asterisk_endpoints_count") == 1
    assert get("asterisk_supervisor_ami_connected") == 1
    assert get("asterisk_supervisor_ami_events_total") == 7


def test_res_prometheus_names_and_types_are_exact() -> None:
    """Legacy counters keep their bare names in HELP, TYPE and samples; our counters get _total."""
    text = render(registry_for(busy_state())).decode()
    for name, kind in [
        ("asterisk_core_uptime_seconds", "counter"),
        ("asterisk_core_last_reload_seconds", "counter"),
        ("asterisk_calls_sum", "counter"),
        ("asterisk_calls_count", "gauge"),
        ("asterisk_channels_count", "gauge"),
        ("asterisk_endpoints_count", "gauge"),
        ("asterisk_bridges_count", "gauge"),
        ("asterisk_supervisor_calls_total", "counter"),
    ]:
        assert f"# TYPE {name} {kind}\n" in text
        assert f"\n{name} " in text or f"\n{name}{{" in text


def test_disconnected_hides_live_gauges_keeps_counters() -> None:
    """While AMI is down, Asterisk's current state is absent (unknown), counters remain."""
    s = busy_state()
    s.set_connected(False, 0.0)
    r = registry_for(s)
    assert r.get_sample_value("asterisk_supervisor_ami_connected") == 0
    assert r.get_sample_value("asterisk_supervisor_calls_active") is None
    assert r.get_sample_value("asterisk_core_uptime_seconds") is None
    assert (
        r.get_sample_value(
            "asterisk_supervisor_calls_total",
            {"direction": "inbound", "trunk": "acme", "outcome": "answered"},
        )
        == 1
    )


def test_render_matches_client_python_for_ordinary_metrics() -> None:
    """Counters made with client_python (others' metrics) render as generate_latest does."""
    from prometheus_client import generate_latest

    r = CollectorRegistry()
    c = Counter("asterisk_supervisor_reloads", "Reloads.", ["module"], registry=r)
    c.labels("res_pjsip.so").inc()
    assert render(r) == generate_latest(r)


# res_prometheus' names predate promtool's naming lint (gauges ending in _count, counters without
# _total); CONTRIBUTING fixes them because dashboards and alerts use them as they are.
RES_PROMETHEUS = {
    "asterisk_core_uptime_seconds",
    "asterisk_core_last_reload_seconds",
    "asterisk_calls_count",
    "asterisk_calls_sum",
    "asterisk_channels_count",
    "asterisk_endpoints_count",
    "asterisk_bridges_count",
}


def test_promtool_finds_no_problem_beyond_the_fixed_legacy_names() -> None:
    """`promtool check metrics` parses everything and lints nothing but res_prometheus' names."""
    promtool = required.tool("promtool", "prometheus")
    text = render(registry_for(busy_state()))
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    problems = (result.stdout + result.stderr).decode().strip().splitlines()
    assert result.returncode in (0, 3), problems  # 3: lint findings only, the text parsed
    assert {line.split()[0] for line in problems} <= RES_PROMETHEUS, problems
    ours = b"".join(
        line + b"\n"
        for line in text.splitlines()
        if not any(name in line.decode() for name in RES_PROMETHEUS)
    )
    clean = subprocess.run(["promtool", "check", "metrics"], input=ours, capture_output=True)
    assert clean.returncode == 0, clean.stderr.decode()
