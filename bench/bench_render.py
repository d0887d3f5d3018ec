"""Load+validate and render time for a large generated site: 5,000 endpoints and 50 trunks.

    python -m bench.bench_render [--runs N] [--report bench/reports/render.md]

The site is generated as YAML text (one file, as a ConfigMap would hold it) with a Secret of
5,050 passwords, held in memory as mounts, so the figures are the pure functions' cost: YAML
composition with line marks, pydantic validation, cross-reference checks, resolution
(`load_site`), then `render`. Each figure is the median of N runs. Target: render under 1 s.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.report import LoadSampler, header, write
from supervisor.render import RenderContext, render
from supervisor.site.load import LoadedSite, load_site
from supervisor.site.mounts import Mount
from supervisor.site.yamlsource import parse

ENDPOINTS = 5000
TRUNKS = 50
REPORT = Path(__file__).resolve().parent / "reports" / "render.md"


def generate(endpoints: int = ENDPOINTS, trunks: int = TRUNKS) -> tuple[str, dict[str, bytes]]:
    """A site in YAML and its Secret: phones in ring groups of 10, each trunk with 4 DIDs."""
    site: dict[str, Any] = {
        "addresses": {"ipv6": "2001:db8:e8b1::1:1", "ipv4": "203.0.113.10"},
        "trunks": {},
        "endpoints": {},
        "dialplan": {"extensions": {}, "ring_groups": {}, "inbound": {}, "outbound": []},
    }
    secrets: dict[str, bytes] = {}
    for t in range(trunks):
        name = f"trunk{t:03d}"
        dids = [f"+4930{t:03d}{d:04d}" for d in range(4)]
        site["trunks"][name] = {
            "hosts": [f"2001:db8:5060::{t + 1:x}"],
            "auth": {"username": f"user{t}", "password_secret": f"{name}-password"},
            "registration": {"expiry": 600, "retry": 60},
            "codecs": ["alaw", "ulaw"],
            "dids": dids,
            "caller_id": {"number": dids[0], "name": f"Trunk {t}"},
        }
        secrets[f"{name}-password"] = f"secret-{t}".encode()
        site["dialplan"]["outbound"].append(
            {"pattern": f"_{t:02d}X.", "trunk": name, "strip": 2, "prepend": "+49"}
        )
    for e in range(endpoints):
        name = f"phone{e:05d}"
        site["endpoints"][name] = {
            "auth": {"password_secret": f"{name}-password"},
            "codecs": ["g722", "alaw"],
            "max_contacts": 2,
        }
        secrets[f"{name}-password"] = f"phone-secret-{e}".encode()
        site["dialplan"]["extensions"][f"{10000 + e}"] = name
        if e % 10 == 9:
            group = f"group{e // 10:04d}"
            members = [f"phone{m:05d}" for m in range(e - 9, e + 1)]
            site["dialplan"]["ring_groups"][group] = {"endpoints": members, "ring_time": 20}
    groups = list(site["dialplan"]["ring_groups"])
    for t, trunk in enumerate(site["trunks"].values()):
        for d, did in enumerate(trunk["dids"]):
            site["dialplan"]["inbound"][did] = groups[(t * 4 + d) % len(groups)]
    return yaml.safe_dump(site, sort_keys=False), secrets


def timed(fn: Callable[[], object]) -> float:
    """CPU seconds of one call: on a shared 2-core machine wall-clock time mostly measures
    the wait for a core."""
    gc.collect()
    start = time.process_time()
    fn()
    return time.process_time() - start


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()

    text, secrets = generate()
    config = [Mount(path=Path("/bench/site"), files={"site.yaml": text.encode()})]
    secret_mount = [Mount(path=Path("/bench/secrets"), files=secrets)]
    context = RenderContext(ami_secret="bench-secret")
    loaded: list[LoadedSite] = []

    def load() -> None:
        loaded[:] = [load_site(config, secret_mount)]

    files: dict[str, str] = {}

    def do_render() -> None:
        files.clear()
        files.update(render(loaded[0], context))

    # Interleaved, so that a busy moment on a shared machine hits every step alike.
    parse_times, load_times, render_times = [], [], []
    with LoadSampler() as load_average:
        for _ in range(args.runs):
            parse_times.append(timed(lambda: parse("site.yaml", text)))
            load_times.append(timed(load))
            render_times.append(timed(do_render))
    parse_median = statistics.median(parse_times)
    load_median = statistics.median(load_times)
    render_median = statistics.median(render_times)
    size = sum(len(t.encode()) for t in files.values())
    site = loaded[0].site
    lines = [
        *header("Render benchmark", load_average.summary(), report=args.report),
        "A generated site of "
        f"{len(site.endpoints):,} endpoints and {len(site.trunks)} trunks "
        f"({len(site.dialplan.ring_groups)} ring groups, {len(site.dialplan.extensions):,} "
        f"extensions, {len(site.dialplan.inbound)} DIDs, {len(site.dialplan.outbound)} outbound "
        f"routes); site YAML {len(text.encode()) / 1e6:.2f} MB, Secret of {len(secrets):,} keys, "
        "in memory.",
        "",
        f"Machine: {machine()}.",
        "",
        f"| step (CPU seconds) | median of {args.runs} | min | max |",
        "|---|---|---|---|",
        f"| load + validate (`load_site`: YAML with line marks, pydantic, checks, resolve) | "
        f"{load_median:.3f} s | {min(load_times):.3f} s | {max(load_times):.3f} s |",
        f"| of which YAML -> values with line marks (`yamlsource.parse`, libyaml) | "
        f"{parse_median:.3f} s | {min(parse_times):.3f} s | {max(parse_times):.3f} s |",
        f"| render (`render`: {len(files)} files, {size / 1e6:.2f} MB, with the output guard "
        f"reading every file back) | {render_median:.3f} s | "
        f"{min(render_times):.3f} s | {max(render_times):.3f} s |",
        "",
        f"Target: render under 1 s: {'met' if render_median < 1 else 'NOT met'}.",
    ]
    report = "\n".join(lines)
    write(args.report, report)
    print(report)


if __name__ == "__main__":
    main()
