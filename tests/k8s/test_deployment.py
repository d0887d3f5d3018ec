"""The Deployment agrees with the image, the entrypoint's own command line, the Calico pools and
the example site: the things that, if they drifted, would only show in a live cluster."""

from __future__ import annotations

import argparse
import ipaddress
import json
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from lab import image, k8s
from lab.paths import REPO
from lab.pki import Ca
from supervisor import cli
from supervisor.cli import run as cli_run
from supervisor.settings import Settings

EXAMPLE = REPO / "examples" / "home"
TLS_KEYS = {"tls.crt", "tls.key", "ca.crt"}


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    return k8s.build()


@pytest.fixture(scope="module")
def pod(built: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = k8s.one(built, "Deployment")
    spec: dict[str, Any] = deployment["spec"]["template"]
    return spec


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["spec"]["containers"]
    c: dict[str, Any] = only
    return c


@pytest.fixture(scope="module")
def settings(container: dict[str, Any]) -> Settings:
    """The container's args parsed by the entrypoint's real `run` command line."""
    parser = argparse.ArgumentParser()
    cli_run.register(parser.add_subparsers(dest="command"))
    return cli_run.settings_from(parser.parse_args(["run", *container["args"]]))


def mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in container["volumeMounts"]}


def volumes(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod["spec"]["volumes"]}


def test_one_pod_at_a_time(built: list[dict[str, Any]]) -> None:
    """Replicas 1 and Recreate: two pods never compete for the pools' single addresses."""
    spec = k8s.one(built, "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_grace_period_is_drain_plus_five(pod: dict[str, Any], settings: Settings) -> None:
    """terminationGracePeriodSeconds = the entrypoint's --drain-timeout + 5 s (25 -> 30)."""
    assert settings.drain_timeout_s == 25
    assert pod["spec"]["terminationGracePeriodSeconds"] == settings.drain_timeout_s + 5


def test_args_keep_the_image_defaults(container: dict[str, Any]) -> None:
    """The args restate the image's CMD and only add settings after it."""
    cmd = image.image_facts().cmd
    assert tuple(container["args"][: len(cmd)]) == cmd
    assert "command" not in container, "the image's ENTRYPOINT must stay the entrypoint"


def test_probes_hit_the_entrypoint_http_port(container: dict[str, Any], settings: Settings) -> None:
    """Liveness is /healthz and readiness /readyz, on the port the supervisor listens on."""
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert live["path"] == "/healthz"
    assert ready["path"] == "/readyz"
    assert ports[live["port"]] == ports[ready["port"]] == settings.http_port == 8080
    assert settings.http_host == "::"


def test_site_and_secret_are_whole_directory_mounts(
    built: list[dict[str, Any]], pod: dict[str, Any], container: dict[str, Any], settings: Settings
) -> None:
    """ConfigMap and Secrets are directory mounts where --config/--secrets point, no subPath;
    the second Secret is cert-manager's (the example Certificate's), optional."""
    by_path, vols = mounts(container), volumes(pod)
    assert all("subPath" not in m and "subPathExpr" not in m for m in container["volumeMounts"])
    (config_dir,) = settings.config_dirs
    secret_dir, tls_dir = settings.secret_dirs
    site = vols[by_path[str(config_dir)]]
    secret = vols[by_path[str(secret_dir)]]
    tls = vols[by_path[str(tls_dir)]]
    assert tls["secret"]["secretName"] == certificate()["spec"]["secretName"]
    assert tls["secret"]["optional"] is True
    assert "items" not in tls["secret"]
    site_map = k8s.one([o for o in built if o["metadata"]["name"] == "asterisk-site"], "ConfigMap")
    assert site["configMap"]["name"] == site_map["metadata"]["name"]
    template = yaml.safe_load(k8s.SECRET_TEMPLATE.read_text())
    assert secret["secret"]["secretName"] == template["metadata"]["name"]
    assert "items" not in site["configMap"]
    assert "items" not in secret["secret"]


def writable(by_path: dict[str, str], vols: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Mount path -> volume kind, for the writable volumes (emptyDir or the claim)."""
    kinds = ("emptyDir", "persistentVolumeClaim")
    return {p: k for p, n in by_path.items() for k in kinds if k in vols[n]}


def test_writable_paths_are_exactly_the_image_volumes(
    pod: dict[str, Any], container: dict[str, Any], settings: Settings
) -> None:
    """Each image VOLUME is an emptyDir or the persistent claim, and Asterisk's paths in the
    settings are among them."""
    by_path, vols = mounts(container), volumes(pod)
    facts = image.image_facts()
    rw = writable(by_path, vols)
    assert set(rw) == {str(v) for v in facts.volumes}
    paths = settings.asterisk
    for path in (paths.etc, paths.run, paths.log, paths.spool, paths.lib, paths.db):
        assert any(PurePosixPath(path).is_relative_to(m) for m in rw), (
            f"Asterisk writes to {path}, which is not writable in the pod"
        )
    for path in by_path:
        if path not in rw:
            assert next(m for m in container["volumeMounts"] if m["mountPath"] == path)["readOnly"]


def test_voicemail_and_astdb_are_on_the_persistent_claim(
    built: list[dict[str, Any]], pod: dict[str, Any], container: dict[str, Any], settings: Settings
) -> None:
    """Every persistent path of the settings (spool, astdb) is on the ReadWriteOnce claim, which
    one pod at a time mounts (replicas 1, Recreate), writable through fsGroup 101."""
    by_path, vols = mounts(container), volumes(pod)
    claim = k8s.one(built, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    on_claim = {
        p
        for p, n in by_path.items()
        if vols[n].get("persistentVolumeClaim", {}).get("claimName") == claim["metadata"]["name"]
    }
    assert on_claim == {str(settings.asterisk.spool)}
    for path in settings.asterisk.persistent:
        assert any(PurePosixPath(path).is_relative_to(m) for m in on_claim), path
    spec = k8s.one(built, "Deployment")["spec"]
    assert (spec["replicas"], spec["strategy"]["type"]) == (1, "Recreate")
    assert pod["spec"]["securityContext"]["fsGroup"] == 101


def test_security_context_is_least_privilege(
    pod: dict[str, Any], container: dict[str, Any]
) -> None:
    """Non-root as the image's uid, read-only root, no escalation, no capability, RuntimeDefault."""
    facts = image.image_facts()
    pod_sc, sc = pod["spec"]["securityContext"], container["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == sc["runAsUser"] == facts.uid
    assert pod_sc["runAsGroup"] == pod_sc["fsGroup"] == facts.gid
    assert pod_sc["seccompProfile"] == sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc.get("privileged", False) is False
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert not pod["spec"].get("hostNetwork", False)


def test_resources_request_and_bound_memory(container: dict[str, Any]) -> None:
    """Requests for scheduling, a memory limit; no CPU limit (throttling would jitter RTP)."""
    resources = container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"memory"}


def test_pool_annotations_name_the_pools_of_each_family(
    built: list[dict[str, Any]], pod: dict[str, Any]
) -> None:
    """The ipv6pools/ipv4pools annotations are JSON lists naming built pools of that family, and
    each pool is one address that Calico never hands out by itself."""
    pools = {p["metadata"]["name"]: p["spec"] for p in k8s.of_kind(built, "IPPool")}
    annotations = pod["metadata"]["annotations"]
    for family in (6, 4):
        names = json.loads(annotations[f"cni.projectcalico.org/ipv{family}pools"])
        assert isinstance(names, list)
        assert names
        for name in names:
            spec = pools[name]
            network = ipaddress.ip_network(spec["cidr"])
            assert network.version == family
            assert network.num_addresses == 1
            assert spec["blockSize"] == network.prefixlen
            assert spec["nodeSelector"] == "!all()"
            assert spec["natOutgoing"] is False
            assert spec["ipipMode"] == spec["vxlanMode"] == "Never"
            documentation = ipaddress.ip_network(
                "2001:db8::/32" if family == 6 else "203.0.113.0/24"
            )
            assert network.subnet_of(documentation), "the repository uses documentation prefixes"


def test_pools_hold_the_example_site_addresses(built: list[dict[str, Any]]) -> None:
    """The pools are exactly the addresses the example site expects the pod to hold."""
    site = yaml.safe_load((EXAMPLE / "site" / "site.yaml").read_text())
    expected = {ipaddress.ip_address(a) for a in site["addresses"].values()}
    pools = {ipaddress.ip_network(p["spec"]["cidr"]) for p in k8s.of_kind(built, "IPPool")}
    assert pools == {ipaddress.ip_network(a) for a in expected}


def test_bgp_peers_are_outside_the_pools() -> None:
    """The example BGP peers are router addresses, one per family, not the pod's own addresses."""
    peers = k8s.of_kind(k8s.build(k8s.BGP), "BGPPeer")
    pools = [ipaddress.ip_network(p["spec"]["cidr"]) for p in k8s.of_kind(k8s.build(), "IPPool")]
    families = set()
    for peer in peers:
        address = ipaddress.ip_address(peer["spec"]["peerIP"])
        families.add(address.version)
        assert all(address not in pool for pool in pools)
    assert families == {4, 6}


def test_site_configmap_is_the_example_site(built: list[dict[str, Any]]) -> None:
    """The generated ConfigMap holds examples/home/site/ byte for byte, under a stable name."""
    site_map = next(
        o
        for o in k8s.of_kind(built, "ConfigMap")
        if "grafana_dashboard" not in o["metadata"].get("labels", {})
    )
    assert site_map["metadata"]["name"] == "asterisk-site", "no hash suffix: live reload needs it"
    example = {p.name: p.read_text() for p in sorted((EXAMPLE / "site").iterdir()) if p.is_file()}
    assert example, "examples/home/site/ is empty"
    assert site_map["data"] == example, (
        "k8s/site/ must equal examples/home/site/ (kustomize reads only below k8s/): "
        "copy the example's files into k8s/site/ and list them in k8s/kustomization.yaml"
    )


def test_secret_template_has_placeholders_for_every_key_the_site_uses() -> None:
    """The Secret template lists exactly the example's secret keys, with placeholder values only."""
    template = yaml.safe_load(k8s.SECRET_TEMPLATE.read_text())
    keys = set(template["stringData"])
    example_keys = {p.name for p in (EXAMPLE / "secrets").iterdir() if p.is_file()}
    # The certificate's keys are in cert-manager's Secret, not in the template.
    assert keys == example_keys - TLS_KEYS
    site_text = (EXAMPLE / "site" / "site.yaml").read_text()
    for key in keys:
        assert key in site_text, f"{key} is not referred to by the site"
    # Voicemail PINs are digits, so their placeholder is the one PIN nobody keeps.
    values = {k: v for k, v in template["stringData"].items() if not k.endswith("-pin")}
    assert set(values.values()) == {"CHANGE-ME"}
    assert {v for k, v in template["stringData"].items() if k.endswith("-pin")} <= {"0000"}
    assert "data" not in template
    assert not list(Path(k8s.K8S).rglob("*secret*.env")), "no secret material in k8s/"


def test_image_volume_paths_are_posix(container: dict[str, Any]) -> None:
    """Mount paths are absolute, normalised paths (a trailing slash would miss the image VOLUME)."""
    for path in mounts(container):
        assert str(PurePosixPath(path)) == path
        assert path.startswith("/")


def test_site_configmap_is_valid_with_the_secret_template_keys(tmp_path: Path) -> None:
    """`check` accepts k8s/site/ with the Secret template's keys, and not with one missing."""
    template = yaml.safe_load(k8s.SECRET_TEMPLATE.read_text())
    for key, value in template["stringData"].items():
        (tmp_path / key).write_text(value)
    tls = tmp_path / "tls"
    tls.mkdir()
    ca = Ca()
    for key, value in ca.issue(("pbx.home.example",)).secret_files(ca).items():
        (tls / key).write_text(value)
    site = k8s.K8S / "site"
    both = ["--secrets", str(tmp_path), "--secrets", str(tls)]
    assert cli.main(["check", str(site), *both]) == 0
    assert cli.main(["check", str(site), "--secrets", str(tmp_path)]) == 1  # no certificate
    missing = tmp_path / "provider-password"
    missing.unlink()
    assert cli.main(["check", str(site), *both]) == 1


def certificate() -> dict[str, Any]:
    """The cert-manager Certificate of k8s/certificate.example.yaml (commented out there: its
    CRD is not part of this base)."""
    text = (k8s.K8S / "certificate.example.yaml").read_text()
    body = "\n".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in text.splitlines()
        if line.startswith("#")
    )
    docs = [d for d in yaml.safe_load_all(body.split("\n---\n", 1)[1]) if d]
    return k8s.one(docs, "Certificate")


def test_certificate_example_feeds_the_tls_keys_the_example_site_reads() -> None:
    """The example Certificate writes the Secret the Deployment mounts, with the keys the example
    site's tls transport reads by default (cert-manager's tls.crt, tls.key, ca.crt)."""
    from supervisor.site.load import load_site_dirs

    cert = certificate()
    assert cert["apiVersion"] == "cert-manager.io/v1"
    assert cert["spec"]["secretName"] == "asterisk-tls"
    assert cert["spec"]["renewBefore"] == "720h"  # renewed well before the 14-day alert
    loaded = load_site_dirs([EXAMPLE / "site"], [EXAMPLE / "secrets"])
    (spec,) = [t.tls for t in loaded.site.transports.values() if t.tls is not None]
    assert {spec.cert_secret, spec.key_secret, spec.ca_secret} == TLS_KEYS
    site = yaml.safe_load((EXAMPLE / "site" / "site.yaml").read_text())
    assert set(cert["spec"]["ipAddresses"]) <= set(site["addresses"].values())


def test_service_and_podmonitor_select_the_pod_and_its_http_port(
    built: list[dict[str, Any]], pod: dict[str, Any], container: dict[str, Any]
) -> None:
    """The metrics Service and the PodMonitor select the pod's labels and its named HTTP port."""
    labels = pod["metadata"]["labels"]
    ports = {p["name"]: p for p in container["ports"]}
    service = k8s.one(built, "Service")["spec"]
    assert service["selector"].items() <= labels.items()
    (service_port,) = service["ports"]
    assert ports[service_port["targetPort"]]["containerPort"] == 8080
    monitor = k8s.one(built, "PodMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["port"] in ports
    assert endpoint["path"] == "/metrics"
