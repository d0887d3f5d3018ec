"""k8s/networkpolicy.yaml opens exactly the example site's SIP transports and the rendered RTP
range to anyone, and the HTTP port only to pods of the cluster's own and monitoring namespaces:
nothing but SIP, RTP and TLS answers outside the cluster."""

from __future__ import annotations

from typing import Any

import pytest

from lab import k8s
from lab.paths import REPO
from supervisor.render.context import RenderContext
from supervisor.site.load import load_site_dirs

EXAMPLE = REPO / "examples" / "home"
TRANSPORT = {"udp": "UDP", "tcp": "TCP", "tls": "TCP"}


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    return k8s.build()


@pytest.fixture(scope="module")
def policy(built: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = k8s.one(built, "NetworkPolicy")["spec"]
    return spec


def open_to_anyone(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for rule in policy["ingress"] if "from" not in rule for p in rule["ports"]]


def test_the_policy_selects_the_pbx_pod_and_governs_ingress(
    built: list[dict[str, Any]], policy: dict[str, Any]
) -> None:
    """It selects the Deployment's pod by its labels and is an Ingress policy (deny the rest)."""
    labels = k8s.one(built, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = policy["podSelector"]["matchLabels"]
    assert selector
    assert selector.items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress"]


def test_sip_tls_and_rtp_are_open_to_anyone_and_nothing_else() -> None:
    """Open to any source: each transport of the example site and the RTP range rtp.conf gets,
    and no other port."""
    loaded = load_site_dirs([EXAMPLE / "site"], [EXAMPLE / "secrets"])
    expected = {(t.port, None, TRANSPORT[t.protocol]) for t in loaded.site.transports.values()}
    context = RenderContext(ami_secret="x")
    expected.add((context.rtp_start, context.rtp_end, "UDP"))
    policy = k8s.one(k8s.build(), "NetworkPolicy")["spec"]
    opened = {(p["port"], p.get("endPort"), p["protocol"]) for p in open_to_anyone(policy)}
    assert opened == expected


def test_http_only_from_pods_of_the_namespace_and_monitoring(
    built: list[dict[str, Any]], policy: dict[str, Any]
) -> None:
    """The container's http port is reachable only from pod selectors (this namespace, the
    monitoring namespace): no ipBlock, no rule without `from`."""
    (container,) = k8s.one(built, "Deployment")["spec"]["template"]["spec"]["containers"]
    names = {p["name"] for p in container["ports"]}
    assert "http" in names
    http_rules = [r for r in policy["ingress"] if any(p["port"] == "http" for p in r["ports"])]
    assert len(http_rules) == 1
    (rule,) = http_rules
    assert [p["port"] for p in rule["ports"]] == ["http"]
    assert all("ipBlock" not in peer for peer in rule["from"])
    assert {"podSelector": {}} in rule["from"]
    namespaces = [
        p["namespaceSelector"]["matchLabels"] for p in rule["from"] if "namespaceSelector" in p
    ]
    assert namespaces == [{"kubernetes.io/metadata.name": "monitoring"}]
    assert 8080 not in {p["port"] for p in open_to_anyone(policy)}
