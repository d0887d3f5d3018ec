"""The alerts and the dashboard: valid for Prometheus, firing when they should, and naming only
metrics (and labels) agreed in CONTRIBUTING.md."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import k8s, required


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    return k8s.build()


@pytest.fixture(scope="module")
def rules_file(built: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PrometheusRule's spec as a plain Prometheus rule file."""
    path = tmp_path_factory.mktemp("rules") / "asterisk.rules.yaml"
    path.write_text(yaml.safe_dump(k8s.one(built, "PrometheusRule")["spec"]))
    return path


def promtool() -> str:
    return required.tool("promtool", "prometheus")


def test_promtool_accepts_the_rules(rules_file: Path) -> None:
    """`promtool check rules` passes on the PrometheusRule's groups."""
    done = subprocess.run(
        [promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_required_alerts_exist(built: list[dict[str, Any]]) -> None:
    """The five alerts the issue asks for exist, each with a severity and a summary."""
    rules = [r for g in k8s.one(built, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    assert {
        "AsteriskTrunkUnregistered",
        "AsteriskRequiredAddressMissing",
        "AsteriskConfigReloadFailing",
        "AsteriskRestarting",
        "AsteriskAmiDown",
        "AsteriskSipBruteForce",
        "AsteriskSipBlockFlood",
        "AsteriskTlsCertificateExpiring",
        "AsteriskTlsCertificateNotServed",
        "AsteriskHung",
    } <= names
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
    trunk = next(r for r in rules if r["alert"] == "AsteriskTrunkUnregistered")
    assert trunk["for"] == "5m"


# promtool unit tests: series notation 'a+bxN' is a, a+b, ... (N+1 samples, 1m apart).
ALERT_TESTS: list[dict[str, Any]] = [
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'asterisk_pjsip_outbound_registration_status{registration="provider",'
                'domain="2001:db8:5060::10",username="pod1",channel_type="PJSIP"}',
                "values": "1 1 0x10",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "AsteriskTrunkUnregistered", "exp_alerts": []},
            {
                "eval_time": "8m",
                "alertname": "AsteriskTrunkUnregistered",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "critical",
                            "registration": "provider",
                            "domain": "2001:db8:5060::10",
                            "username": "pod1",
                            "channel_type": "PJSIP",
                        }
                    }
                ],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'asterisk_supervisor_address_present{address="203.0.113.10",'
                'family="ipv4"}',
                "values": "1 0x5",
            },
            {
                "series": 'asterisk_supervisor_address_usable{address="203.0.113.10",'
                'family="ipv4"}',
                "values": "1 0x5",
            },
            {
                "series": 'asterisk_supervisor_address_present{address="2001:db8:e8b1::1:1",'
                'family="ipv6"}',
                "values": "1x5",
            },
            {
                "series": 'asterisk_supervisor_address_usable{address="2001:db8:e8b1::1:1",'
                'family="ipv6"}',
                "values": "1x5",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "3m",
                "alertname": "AsteriskRequiredAddressMissing",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "critical",
                            "address": "203.0.113.10",
                            "family": "ipv4",
                        }
                    }
                ],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {"series": "asterisk_supervisor_last_reload_successful", "values": "1 0 0 0 0 1"},
        ],
        "alert_rule_test": [
            {
                "eval_time": "4m",
                "alertname": "AsteriskConfigReloadFailing",
                "exp_alerts": [{"exp_labels": {"severity": "warning"}}],
            },
            {"eval_time": "5m", "alertname": "AsteriskConfigReloadFailing", "exp_alerts": []},
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {"series": "asterisk_supervisor_asterisk_restarts_total", "values": "0 0 1 1"},
        ],
        "alert_rule_test": [
            {"eval_time": "1m", "alertname": "AsteriskRestarting", "exp_alerts": []},
            {
                "eval_time": "3m",
                "alertname": "AsteriskRestarting",
                "exp_alerts": [{"exp_labels": {"severity": "warning"}}],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {"series": "asterisk_supervisor_asterisk_hangs_total", "values": "0 0 1 1"},
        ],
        "alert_rule_test": [
            {"eval_time": "1m", "alertname": "AsteriskHung", "exp_alerts": []},
            {
                "eval_time": "3m",
                "alertname": "AsteriskHung",
                "exp_alerts": [{"exp_labels": {"severity": "warning"}}],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {"series": "asterisk_supervisor_ami_connected", "values": "1 0x5"},
            {"series": "asterisk_supervisor_draining", "values": "0 0 0 0 0 0"},
        ],
        "alert_rule_test": [
            {
                "eval_time": "4m",
                "alertname": "AsteriskAmiDown",
                "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {"series": "asterisk_supervisor_ami_connected", "values": "1 0x5"},
            {"series": "asterisk_supervisor_draining", "values": "0 1x5"},
        ],
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": "AsteriskAmiDown", "exp_alerts": []},
        ],
    },
    {
        # A scanner at 5 failures/s for 15 minutes; an unlucky phone at 0.5/s never alerts.
        "interval": "1m",
        "input_series": [
            {
                "series": 'asterisk_supervisor_security_events_total{event="InvalidAccountID",'
                'service="PJSIP",pod="a"}',
                "values": "0+300x20",
            },
            {
                "series": 'asterisk_supervisor_security_events_total{event="SuccessfulAuth",'
                'service="PJSIP",pod="a"}',
                "values": "0+6000x20",
            },
            {
                "series": "asterisk_supervisor_security_events_total{"
                'event="ChallengeResponseFailed",service="PJSIP",pod="b"}',
                "values": "0+30x20",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": "AsteriskSipBruteForce", "exp_alerts": []},
            {
                "eval_time": "16m",
                "alertname": "AsteriskSipBruteForce",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "pod": "a"}}],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {"series": "asterisk_supervisor_blocks_total", "values": "0 5 10 70 70"},
        ],
        "alert_rule_test": [
            {"eval_time": "2m", "alertname": "AsteriskSipBlockFlood", "exp_alerts": []},
            {
                "eval_time": "4m",
                "alertname": "AsteriskSipBlockFlood",
                "exp_alerts": [{"exp_labels": {"severity": "warning"}}],
            },
        ],
    },
]


EXPIRY = "asterisk_supervisor_tls_certificate_expiry_timestamp_seconds"
# The TLS alerts: expiry under 14 days (the series holds a fixed Unix time; promtool's clock
# starts at 0, so 20 days ahead is 1728000 and 10 days 864000) and a lasting mismatch.
ALERT_TESTS += [
    {
        "interval": "1m",
        "input_series": [
            {
                "series": EXPIRY + '{transport="tls6"}',
                "values": "1728000x90",
            },
            {
                "series": EXPIRY + '{transport="tls4"}',
                "values": "864000x90",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "30m", "alertname": "AsteriskTlsCertificateExpiring", "exp_alerts": []},
            {
                "eval_time": "90m",
                "alertname": "AsteriskTlsCertificateExpiring",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "transport": "tls4"}}],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'asterisk_supervisor_tls_certificate_served_matches{transport="tls6"}',
                "values": "1 0 0 1 0x20",
            },
        ],
        "alert_rule_test": [
            # A blip right after a rotation does not fire; 15 minutes of mismatch do.
            {"eval_time": "10m", "alertname": "AsteriskTlsCertificateNotServed", "exp_alerts": []},
            {
                "eval_time": "20m",
                "alertname": "AsteriskTlsCertificateNotServed",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "transport": "tls6"}}],
            },
        ],
    },
]


def run_rule_tests(rules: dict[str, Any], tests: list[dict[str, Any]], where: Path) -> str:
    """Run `promtool test rules` on these rules and tests; its output."""
    (where / "rules.yaml").write_text(yaml.safe_dump(rules))
    (where / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    done = subprocess.run(
        [promtool(), "test", "rules", "tests.yaml"], cwd=where, capture_output=True, text=True
    )
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def test_alerts_fire_when_they_should(built: list[dict[str, Any]], tmp_path: Path) -> None:
    """promtool unit tests: trunk down 5 min, address lost, reload failing, restart, AMI down,
    SIP brute force and a flood of blocks fire; a short blip, a recovered reload, AMI loss while
    draining, successful logins and a slow trickle of failures do not."""
    spec = copy.deepcopy(k8s.one(built, "PrometheusRule")["spec"])
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # checked in the next test; here only when/what fires
    output = run_rule_tests(spec, ALERT_TESTS, tmp_path)
    assert output.startswith("exit 0"), output


def test_alert_text_names_the_trunk_and_its_state(
    built: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The trunk alert's annotations render with the registration's name and "rejected" for 2."""
    spec = k8s.one(built, "PrometheusRule")["spec"]
    series = 'asterisk_pjsip_outbound_registration_status{registration="provider",domain="d"}'
    test = {
        "interval": "1m",
        "input_series": [{"series": series, "values": "2x10"}],
        "alert_rule_test": [
            # Expect no annotations: promtool then prints the rendered ones it got.
            {
                "eval_time": "6m",
                "alertname": "AsteriskTrunkUnregistered",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "critical",
                            "registration": "provider",
                            "domain": "d",
                        }
                    }
                ],
            }
        ],
    }
    output = run_rule_tests(spec, [test], tmp_path)
    got = output.split("got:", 1)[1]
    assert 'summary="Trunk provider is not registered"' in got
    description = re.search(r'description="([^"]*)"', got)
    assert description
    assert "registration provider to d has been rejected for 5 minutes" in " ".join(
        description.group(1).split()
    )


GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": ".*", "$pod": ".*"}


def test_dashboard_queries_are_valid_promql(built: list[dict[str, Any]], tmp_path: Path) -> None:
    """Every dashboard query (Grafana variables substituted) is valid PromQL for promtool."""
    (dashboard,) = k8s.dashboards(built)
    rules = []
    for number, expr in enumerate(k8s.dashboard_expressions(dashboard)):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(rules) > 20


def test_every_metric_used_is_agreed_in_contributing(built: list[dict[str, Any]]) -> None:
    """Every metric named by the alerts and the dashboard is one of CONTRIBUTING.md's names."""
    agreed = k8s.contributing_metrics()
    assert len(agreed) > 40, "CONTRIBUTING.md's metric list was not found"
    used = k8s.metric_names_used(built)
    unknown = sorted(used - set(agreed))
    assert not unknown, f"not in CONTRIBUTING.md's metric names: {unknown}"
    # The alerts and the dashboard cover the subjects.
    for needed in (
        "asterisk_pjsip_outbound_registration_status",
        "asterisk_supervisor_calls_active",
        "asterisk_supervisor_reloads_total",
        "asterisk_supervisor_address_present",
        "asterisk_supervisor_ami_connected",
        "asterisk_supervisor_asterisk_restarts_total",
        "asterisk_supervisor_security_events_total",
        "asterisk_supervisor_blocked_sources",
        "asterisk_supervisor_blocks_total",
    ):
        assert needed in used


def test_every_label_used_belongs_to_the_metric(built: list[dict[str, Any]]) -> None:
    """Labels matched, grouped by or templated are labels CONTRIBUTING.md gives those metrics
    (plus the scrape's target labels)."""
    agreed = k8s.contributing_metrics()
    target_labels = {"namespace", "pod", "job", "instance", "container", "le"}
    for expr in k8s.expressions(built):
        allowed = set(target_labels)
        for name in k8s.promql_metric_names(expr):
            allowed |= agreed.get(name, set())
        assert k8s.promql_label_names(expr) <= allowed, expr
    rules = [r for g in k8s.one(built, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    for rule in rules:
        allowed = {"severity"} | target_labels
        for name in k8s.promql_metric_names(rule["expr"]):
            allowed |= agreed[name]
        templated = set(re.findall(r"\$labels\.(\w+)", str(rule["annotations"])))
        assert templated <= allowed, rule["alert"]


def test_dashboard_covers_registrations_calls_reloads_addresses(
    built: list[dict[str, Any]],
) -> None:
    """The Grafana dashboard ConfigMap carries the sidecar label and a row for each subject."""
    (dashboard,) = k8s.dashboards(built)
    rows = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert {"Registrations", "Calls", "Configuration reloads", "Addresses", "Security"} <= rows
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "asterisk-supervisor"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            # Prometheus, but the recent-calls table: the PostgreSQL copy of the call record.
            sql = panel["datasource"]["type"] == "grafana-postgresql-datasource"
            assert panel["datasource"]["uid"] == ("${records_db}" if sql else "${datasource}")
    assert "Call record (PostgreSQL)" in rows


@pytest.mark.parametrize(
    ("expr", "names", "labels"),
    [
        ("up", {"up"}, set()),
        (
            'sum by (le) (rate(x_seconds_bucket{pod=~"$pod", a!="b"}[$__rate_interval]))',
            {"x_seconds"},
            {"le", "pod", "a"},
        ),
        (
            "a_total offset 5m / on (job) group_left (inst) b == bool 0 and absent(c)",
            {"a_total", "b", "c"},
            set(),
        ),
        ('label_replace(m, "dst", "$1", "src", "(.*)") > 1e3', {"m"}, set()),
        ("histogram_quantile(0.95, sum without (pod) (rate(h_bucket[5m])))", {"h"}, {"pod"}),
    ],
)
def test_promql_name_extraction(expr: str, names: set[str], labels: set[str]) -> None:
    """The PromQL scanner finds metric and label names, not functions, keywords or strings."""
    assert k8s.promql_metric_names(expr) == names
    assert k8s.promql_label_names(expr) == labels
