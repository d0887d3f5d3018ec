"""Every metric the alerts and the dashboard use is exported by the running supervisor (a live
scrape in the lab after a registration and a call), so a renamed metric cannot silently blind
them; the metrics reference in docs/ is generated from that scrape."""

from __future__ import annotations

import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab import netns, sipp
from lab.asterisk import RunDir, wait_until
from lab.fixtures import Started
from lab.k8s import metric_names_used
from lab.netns import Lab
from lab.paths import REPO
from lab.phones import Phones
from lab.reference import metrics_reference
from lab.supervisor import SupervisorRun, read_dir

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"
METRICS_DOC = REPO / "docs" / "metrics.md"


def exported_names(text: str) -> set[str]:
    """Names as the rules use them: counters with _total, histograms by family name."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        names.update(sample.name for sample in family.samples)
    return names


def test_alert_and_dashboard_metrics_are_all_exported(
    lab: Lab, run_dir: RunDir, started: Started
) -> None:
    """A live scrape after one registration and one doorbell call has every metric they use."""
    secrets = read_dir(EXAMPLE / "secrets")
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    started.add(registrar.stop)
    site = read_dir(EXAMPLE / "site")
    site["site.yaml"] = site["site.yaml"].replace(
        "    context: doorbell\n", "    context: answer-test\n"
    ) + (
        "\nraw:\n  extensions.conf: |\n    [answer-test]\n    exten => _X.,1,Answer()\n"
        "     same => n,Wait(1)\n     same => n,Hangup()\n"
    )
    sup = SupervisorRun(lab, run_dir, site, secrets)
    started.add(sup.stop)
    sup.start().wait_ready(30)
    # The example's tls transport: the supervisor's handshake finds the Secret's certificate.
    wait_until(
        lambda: sup.metric("asterisk_supervisor_tls_certificate_served_matches") == 1.0,
        10,
        what="the served certificate verified",
    )
    phones = Phones(lab, run_dir)
    started.add(phones.stop)
    phones.start_ringer()
    phones.register({"desk": secrets["desk-password"].strip()})  # a UDP phone
    # One live reload, so that the per-module reload series exist.
    sup.update_site(
        {"site.yaml": site["site.yaml"].replace('"12": kitchen', '"12": kitchen\n    "13": desk')}
    )
    wait_until(
        lambda: (sup.metric("asterisk_supervisor_reloads_total") or 0) >= 1, 10, what="a reload"
    )
    wait_until(
        lambda: sup.metric("asterisk_pjsip_outbound_registration_status") == 1.0,
        20,
        interval=0.5,
        what="trunk registered",
    )
    call = sipp.call(
        lab, run_dir, "doorbell", netns.DOORBELL_V4, f"{netns.POD_V4}:5060", "100", hold_ms=300
    )
    started.add(call.stop)
    assert call.wait(30) == 0
    wait_until(
        lambda: (sup.metric("asterisk_supervisor_calls_total") or 0) >= 1,
        10,
        what="the call counted",
    )
    # Voicemail counts are absent until the first poll of the boxes (after a boot, a reload or
    # a message): wait for them rather than race them.
    wait_until(
        lambda: sup.metric("asterisk_supervisor_voicemail_messages") is not None,
        10,
        what="the voicemail boxes polled",
    )
    scrape = sup.get("/metrics")[1]
    exported = exported_names(scrape)
    missing = sorted(metric_names_used() - exported)
    assert missing == [], f"used by alerts/dashboard but not exported: {missing}"
    # The metrics reference is generated from this same live registry.
    generated = metrics_reference(scrape)
    if os.environ.get("ASB_UPDATE_DOCS"):
        METRICS_DOC.write_text(generated)
    assert METRICS_DOC.read_text() == generated, (
        "docs/metrics.md is out of date: ASB_UPDATE_DOCS=1 pytest tests/k8s/test_live_metrics.py"
    )
