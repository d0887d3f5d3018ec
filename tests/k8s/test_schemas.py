"""k8s/ builds with kustomize and every object it produces is valid for the cluster: core objects
against Kubernetes' own schemas (strict), Calico and prometheus-operator objects against their
official CRD schemas (vendored in tests/k8s/schemas/crds)."""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from lab import k8s

# The newest Kubernetes the validator knows, and the oldest minor still supported upstream.
VERSIONS = ("1.35.0", kubernetes_validate.latest_version())
CRD_GROUPS = ("projectcalico.org", "crd.projectcalico.org", "monitoring.coreos.com")


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    """Everything `kubectl apply -k` would send: the base, the BGP example, the Secret template."""
    built = k8s.build() + k8s.build(k8s.BGP)
    return [*built, *yaml.safe_load_all(k8s.SECRET_TEMPLATE.read_text())]


def is_custom(obj: dict[str, Any]) -> bool:
    return obj["apiVersion"].split("/")[0] in CRD_GROUPS


def test_kustomize_builds_the_expected_objects() -> None:
    """`kubectl kustomize k8s/` and `k8s/bgp/` build, with exactly the objects the README lists."""
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in k8s.build())
    assert kinds == [
        "ConfigMap/asterisk-grafana-dashboard",
        "ConfigMap/asterisk-site",
        "Deployment/asterisk",
        "IPPool/asterisk-ipv4",
        "IPPool/asterisk-ipv6",
        "NetworkPolicy/asterisk",
        "PersistentVolumeClaim/asterisk-data",
        "PodMonitor/asterisk",
        "PrometheusRule/asterisk",
        "Service/asterisk-metrics",
    ]
    bgp = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in k8s.build(k8s.BGP))
    assert bgp == [
        "BGPConfiguration/default",
        "BGPPeer/site-router-ipv4",
        "BGPPeer/site-router-ipv6",
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_core_objects_pass_strict_validation(objects: list[dict[str, Any]], version: str) -> None:
    """Every core object is valid, with no unknown field, for current Kubernetes versions."""
    core = [o for o in objects if not is_custom(o)]
    assert {o["kind"] for o in core} == {
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "Service",
        "Secret",
    }
    for obj in core:
        kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_rejects_an_unknown_field(objects: list[dict[str, Any]]) -> None:
    """The core validation really is strict: a misspelt Deployment field is an error."""
    deployment = k8s.one(objects, "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


@pytest.fixture(scope="module")
def crd_schemas() -> dict[tuple[str, str], Any]:
    return k8s.crd_schemas()


def test_custom_objects_match_their_crd_schemas(
    objects: list[dict[str, Any]], crd_schemas: dict[tuple[str, str], Any]
) -> None:
    """Calico and prometheus-operator objects validate against the official CRDs, unknown fields
    rejected."""
    custom = [o for o in objects if is_custom(o)]
    assert {o["kind"] for o in custom} == {
        "IPPool",
        "BGPConfiguration",
        "BGPPeer",
        "PodMonitor",
        "PrometheusRule",
    }
    for obj in custom:
        key = (obj["apiVersion"], obj["kind"])
        assert key in crd_schemas, f"no CRD for {key}"
        jsonschema.validate(obj, k8s.strict(crd_schemas[key]))


def test_crd_validation_rejects_a_misspelt_field(crd_schemas: dict[tuple[str, str], Any]) -> None:
    """A typo in a Calico pool (natOutGoing) fails instead of being pruned silently."""
    pool = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "IPPool",
        "metadata": {"name": "x"},
        "spec": {"cidr": "203.0.113.10/32", "natOutGoing": False},
    }
    with pytest.raises(jsonschema.ValidationError, match="natOutGoing"):
        jsonschema.validate(pool, k8s.strict(crd_schemas[("projectcalico.org/v3", "IPPool")]))
