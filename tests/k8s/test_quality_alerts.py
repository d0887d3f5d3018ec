"""The call-quality alerts (one-way audio, packet loss) fire when they should, with promtool."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from lab import k8s
from tests.k8s.test_monitoring import run_rule_tests

ONE_WAY = (
    'asterisk_supervisor_calls_one_way_media_total{direction="inbound",trunk="provider",'
    'namespace="pbx",pod="asterisk-0"}'
)


def loss_bucket(le: str) -> str:
    return (
        'asterisk_supervisor_call_packet_loss_ratio_bucket{direction="outbound",'
        f'trunk="provider",namespace="pbx",pod="asterisk-0",le="{le}"}}'
    )


QUALITY_TESTS: list[dict[str, Any]] = [
    {
        "interval": "1m",
        "input_series": [{"series": ONE_WAY, "values": "0 0 0 1 1x30"}],
        "alert_rule_test": [
            {"eval_time": "2m", "alertname": "AsteriskOneWayAudio", "exp_alerts": []},
            {
                "eval_time": "5m",
                "alertname": "AsteriskOneWayAudio",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "warning",
                            "direction": "inbound",
                            "trunk": "provider",
                            "namespace": "pbx",
                            "pod": "asterisk-0",
                        }
                    }
                ],
            },
            # 15 minutes without a new one-way call: resolved.
            {"eval_time": "25m", "alertname": "AsteriskOneWayAudio", "exp_alerts": []},
        ],
    },
    {
        # 10 calls in 10 minutes, 4 of them with more than 5 % loss: fires.
        "interval": "1m",
        "input_series": [
            {"series": loss_bucket("+Inf"), "values": "0+1x10 10x40"},
            {"series": loss_bucket("0.05"), "values": "0 1 2 2 3 3 4 4 5 5 6 6x40"},
        ],
        "alert_rule_test": [
            {
                "eval_time": "10m",
                "alertname": "AsteriskCallPacketLoss",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "warning",
                            "direction": "outbound",
                            "trunk": "provider",
                            "namespace": "pbx",
                            "pod": "asterisk-0",
                        }
                    }
                ],
            },
        ],
    },
    {
        # 4 calls, all lossy: too few to page.
        "interval": "1m",
        "input_series": [
            {"series": loss_bucket("+Inf"), "values": "0 1 2 3 4x40"},
            {"series": loss_bucket("0.05"), "values": "0x40"},
        ],
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": "AsteriskCallPacketLoss", "exp_alerts": []},
        ],
    },
]


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    return k8s.build()


def test_quality_alerts_fire_when_they_should(built: list[dict[str, Any]], tmp_path: Path) -> None:
    """One one-way call fires AsteriskOneWayAudio for 15 min; lossy calls over a fifth (and at
    least 5 calls) fire AsteriskCallPacketLoss; four lossy calls do not."""
    spec = copy.deepcopy(k8s.one(built, "PrometheusRule")["spec"])
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    output = run_rule_tests(spec, QUALITY_TESTS, tmp_path)
    assert output.startswith("exit 0"), output


def test_one_way_alert_text_names_direction_and_trunk(
    built: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The one-way alert's summary renders the direction and trunk."""
    spec = k8s.one(built, "PrometheusRule")["spec"]
    test = {
        "interval": "1m",
        "input_series": [{"series": ONE_WAY, "values": "0 1x10"}],
        "alert_rule_test": [
            {
                "eval_time": "3m",
                "alertname": "AsteriskOneWayAudio",
                "exp_alerts": [{"exp_labels": {"severity": "warning"}}],
            }
        ],
    }
    output = run_rule_tests(spec, [test], tmp_path)
    got = output.split("got:", 1)[1]
    assert "One-way audio on inbound calls via trunk provider" in " ".join(got.split())
