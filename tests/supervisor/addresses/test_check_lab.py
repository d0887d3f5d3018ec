"""One-shot checks in the lab's pod namespace: what the kernel really reports."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

import pytest

from lab.netns import DOORBELL_V4, POD_V4, POD_V6, PROVIDER_V6, Lab, call_in
from supervisor.addresses import NAT_WARNING, ExpectedAddress, Report, check
from tests.supervisor.addresses.helpers import EXPECTED, TRUNKS, udp_round_trip

pytestmark = pytest.mark.lab

OTHER_V6 = "2001:db8:e8b1::bad"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "home"


def _check(lab: Lab, expected: tuple[ExpectedAddress, ...] = EXPECTED) -> Report:
    return call_in(lab.pod, check, expected, TRUNKS)


def _state(report: Report, address: str) -> str:
    status = report.status_of(ipaddress.ip_address(address))
    assert status is not None
    return status.state


def test_present_and_usable(lab: Lab) -> None:
    """The lab pod's /128 and /32 are present, bindable, global, and the egress source."""
    report = _check(lab)
    assert report.ok, report.findings
    assert report.all_required_usable
    for status in report.addresses:
        assert (status.interface, status.prefixlen) == ("eth0", status.expected.expected_prefixlen)
    assert {(e.trunk, str(e.selected)) for e in report.egress} == {
        ("provider", POD_V6),
        ("doorbell", POD_V4),
    }
    assert all(e.correct for e in report.egress)


def test_missing_address_is_an_error(lab: Lab) -> None:
    """An expected address the pod does not hold is reported missing, as an error."""
    extra = ExpectedAddress(address=ipaddress.ip_address("2001:db8:e8b1::1:2"))
    report = _check(lab, (*EXPECTED, extra))
    assert _state(report, "2001:db8:e8b1::1:2") == "missing"
    assert not report.all_required_usable
    assert any("2001:db8:e8b1::1:2" in f.message for f in report.errors)


def test_wrong_egress_source_is_reported(lab: Lab) -> None:
    """A route to the provider preferring another source is an error showing that source."""
    lab.add_address("pod", f"{OTHER_V6}/128")
    lab.run("pod", ["ip", "-6", "route", "add", f"{PROVIDER_V6}/128", "via", "fe80::1",
                    "dev", "eth0", "src", OTHER_V6])  # fmt: skip
    report = _check(lab)
    assert report.all_required_usable  # the address itself is fine: only egress is wrong
    (provider,) = [e for e in report.egress if e.trunk == "provider"]
    assert str(provider.selected) == OTHER_V6
    assert not provider.correct
    assert any(OTHER_V6 in f.message and "provider" in f.message for f in report.errors)


def test_ula_only_warns_about_nat(lab: Lab) -> None:
    """A pod with only a ULA IPv6 address (no pool annotation) gets the NAT warning."""
    lab.del_address("pod", f"{POD_V6}/128")
    lab.add_address("pod", "fd00:db8:e8b1::1/128")
    report = _check(lab)
    assert _state(report, POD_V6) == "missing"
    warnings = [f.message for f in report.warnings]
    assert any(NAT_WARNING in w and "fd00:db8:e8b1::1 (ula, eth0)" in w for w in warnings)


def test_ipv4_path_works_while_ipv6_is_broken(lab: Lab) -> None:
    """Without the IPv6 address IPv4 stays usable and the doorbell still gets through."""
    lab.del_address("pod", f"{POD_V6}/128")
    report = _check(lab)
    assert (_state(report, POD_V6), _state(report, POD_V4)) == ("missing", "usable")
    assert [e.correct for e in report.egress if e.family == "ipv4"] == [True]
    assert udp_round_trip(lab, "doorbell", DOORBELL_V4, POD_V4)


def test_ipv6_path_works_while_ipv4_is_broken(lab: Lab) -> None:
    """Without the IPv4 address IPv6 stays usable and the provider still gets through."""
    lab.del_address("pod", f"{POD_V4}/32")
    report = _check(lab)
    assert (_state(report, POD_V6), _state(report, POD_V4)) == ("usable", "missing")
    assert [e.correct for e in report.egress if e.family == "ipv6"] == [True]
    assert udp_round_trip(lab, "provider", PROVIDER_V6, POD_V6)


def test_cli_table_and_json(lab: Lab) -> None:
    """The command prints expected against actual and exits 1 on a problem, 0 without."""
    argv = [sys.executable, "-m", "supervisor", "addresses", "--expect", POD_V6,
            "--expect", f"{POD_V4}/32", "--trunk", f"provider={PROVIDER_V6}"]  # fmt: skip
    good = lab.run("pod", argv, check=False)
    assert good.returncode == 0, good.stderr
    assert POD_V6 in good.stdout
    assert "ok: no problems" in good.stdout
    lab.del_address("pod", f"{POD_V6}/128")
    bad = lab.run("pod", [*argv, "--format", "json"], check=False)
    assert bad.returncode == 1
    data = json.loads(bad.stdout)
    assert not data["all_required_usable"]
    assert [a["state"] for a in data["addresses"]] == ["missing", "usable"]


def test_cli_reads_the_site(lab: Lab) -> None:
    """With the site's directories the command expects the site's addresses and trunks."""
    argv = [sys.executable, "-m", "supervisor", "addresses", str(EXAMPLE / "site"),
            "--secrets", str(EXAMPLE / "secrets"), "--format", "json"]  # fmt: skip
    good = lab.run("pod", argv, check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    data = json.loads(good.stdout)
    assert [a["address"] for a in data["addresses"]] == [POD_V6, POD_V4]
    assert [(e["trunk"], e["selected"]) for e in data["egress"]] == [("provider", POD_V6)]
    overridden = lab.run("pod", [*argv, "--expect", "2001:db8:e8b1::1:2"], check=False)
    assert overridden.returncode == 1
    assert [a["state"] for a in json.loads(overridden.stdout)["addresses"]] == ["missing"]
