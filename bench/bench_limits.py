"""Large and worst-case sites within the documented limits (supervisor/site/limits.py):
load + validate + render time, and time per MB of YAML.

    python -m bench.bench_limits [--runs N] [--report bench/reports/limits.md]

Targets (issue 12): 50,000 identify entries in total, or 10,000 entries spread over several
files, load + render in under 2 s; the worst site the limits allow checked in under 5 s.
Sites are generated as YAML text and held in memory as mounts (the pure functions' cost).
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.bench_render import machine
from bench.report import LoadSampler, header, write
from supervisor.render import RenderContext, render
from supervisor.site import limits
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import load_site
from supervisor.site.mounts import Mount

REPORT = Path(__file__).resolve().parent / "reports" / "limits.md"
ADDRESSES = {"ipv6": "2001:db8:e8b1::1:1", "ipv4": "203.0.113.10"}
CONTEXT = RenderContext(ami_secret="bench-secret")


@dataclass
class Case:
    name: str
    what: str
    files: dict[str, str]
    secrets: dict[str, bytes]
    target: float
    valid: bool = True


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=10_000)


def v6(n: int, prefix: str = "2001:db8:1::") -> str:
    return str(ipaddress.IPv6Address(prefix) + n)


def identify_50k() -> Case:
    endpoints = {
        f"dev{e:05d}": {
            "identify": [v6(e * 10 + i) for i in range(10)],
            "context": "local",
        }
        for e in range(5_000)
    }
    text = dump({"addresses": ADDRESSES, "endpoints": endpoints})
    return Case(
        "identify-50k",
        "5,000 endpoints x 10 identify entries, one file",
        {"site.yaml": text},
        {},
        2.0,
    )


def spread_10k() -> Case:
    files = {"site.yaml": dump({"addresses": ADDRESSES})}
    for f in range(8):
        endpoints = {
            f"dev{f}-{e:04d}": {"identify": [v6(f * 100_000 + e)], "context": "local"}
            for e in range(1_250)
        }
        files[f"part{f}.yaml"] = dump({"endpoints": endpoints})
    return Case(
        "spread-10k", "10,000 endpoints with one identify each, over 8 files", files, {}, 2.0
    )


def worst_valid() -> Case:
    """As much as the limits allow at once: 10,000 endpoints (with identify up to the total),
    200 trunks with 8 hosts, 64 identify and 1,000 DIDs... over 16 files, under 4 MiB."""
    secrets: dict[str, bytes] = {}
    trunks = {}
    for t in range(limits.MAX_DIRS * 25):  # 200 trunks
        name = f"trunk{t:03d}"
        trunks[name] = {
            "hosts": [v6(t * 16 + h, "2001:db8:5::") for h in range(8)],
            "auth": {"username": f"u{t}", "password_secret": f"{name}-pw"},
            "registration": {"expiry": 300},
            "identify": [v6(t * 64 + i, "2001:db8:6::") for i in range(64)],
            "dids": [f"+49{t:03d}{d:04d}" for d in range(1_000 if t < 3 else 10)],
        }
        secrets[f"{name}-pw"] = b"secret"
    endpoints = {}
    for e in range(10_000):
        name = f"p{e:05d}"
        if e < 5_000:
            endpoints[name] = {"auth": {"password_secret": f"{name}-pw"}}
            secrets[f"{name}-pw"] = b"secret"
        else:
            endpoints[name] = {
                "identify": [v6(e * 20 + i, "2001:db8:7::") for i in range(14)],
                "context": "local",
            }
    groups = {
        f"g{g:04d}": {"endpoints": [f"p{(g * 64 + m) % 5_000:05d}" for m in range(64)]}
        for g in range(1_000)
    }
    extensions = {f"{10_000 + e}": f"p{e:05d}" for e in range(5_000)}
    extensions |= {f"{20_000 + g}": f"g{g:04d}" for g in range(1_000)}
    inbound = {did: "g0000" for did in trunks["trunk000"]["dids"]}
    outbound = [{"pattern": f"_{o:02d}X.", "trunk": "trunk000"} for o in range(100)]
    files = {
        "site.yaml": dump(
            {
                "addresses": ADDRESSES,
                "trunks": trunks,
                "dialplan": {
                    "extensions": extensions,
                    "ring_groups": groups,
                    "inbound": inbound,
                    "outbound": outbound,
                },
            }
        )
    }
    names = list(endpoints)
    per = len(names) // (limits.MAX_SITE_FILES - 1) + 1
    for f in range(limits.MAX_SITE_FILES - 1):
        chunk = {n: endpoints[n] for n in names[f * per : (f + 1) * per]}
        files[f"endpoints{f:02d}.yaml"] = dump({"endpoints": chunk})
    return Case("worst-valid", "the most the limits allow at once (see below)", files, secrets, 5.0)


def worst_invalid() -> Case:
    """Every entry wrong: 10,000 endpoints each with a bad identify list and bad fields, over
    16 files near 4 MiB: every problem located and reported."""
    files = {"site.yaml": dump({"addresses": ADDRESSES})}
    for f in range(limits.MAX_SITE_FILES - 1):
        endpoints = {
            f"e{f}-{e:04d}": {
                "identify": [f"nope{i}" for i in range(20)],
                "context": "bad context",
                "max_contacts": 99,
                "codecs": ["x"],
            }
            for e in range(667)
        }
        files[f"bad{f:02d}.yaml"] = dump({"endpoints": endpoints})
    return Case(
        "worst-invalid",
        "10,000 endpoints, every field wrong, 16 files",
        files,
        {},
        5.0,
        valid=False,
    )


def worst_overlap() -> Case:
    """100,000 identify entries that all nest in one another or repeat, for the overlap check."""
    endpoints = {}
    for e in range(5_000):
        base = ipaddress.IPv6Network("2001:db8:9::/48")
        items = [str(base)] + [
            str(ipaddress.IPv6Network((int(base.network_address) + e * 19 + i, 128)))
            for i in range(19)
        ]
        endpoints[f"o{e:05d}"] = {"identify": items, "context": "local"}
    text = dump({"addresses": ADDRESSES, "endpoints": endpoints})
    return Case(
        "worst-overlap",
        "5,000 endpoints x 20 nested or repeated networks",
        {"site.yaml": text},
        {},
        5.0,
        valid=False,
    )


def most_identify() -> Case:
    """As many identify entries as 3 MiB holds (short IPv4 ones, 64 per endpoint): past the
    site's total, so counted and refused."""
    lines = ["addresses: {ipv4: 203.0.113.1}", "endpoints:"]
    base = int(ipaddress.IPv4Address("11.0.0.0"))
    size = n = 0
    while size < limits.MAX_SITE_BYTES - 4096:
        items = ",".join(str(ipaddress.IPv4Address(base + n + i)) for i in range(64))
        line = f" e{n // 64}: {{family: ipv4, context: local, identify: [{items}]}}"
        lines.append(line)
        size += len(line) + 1
        n += 64
    text = "\n".join(lines) + "\n"
    what = f"{n:,} short identify entries, 64 per endpoint"
    return Case("most-identify", what, {"site.yaml": text}, {}, 5.0, valid=False)


def unknown_refs() -> Case:
    """References to names that do not exist everywhere a name is referenced: each one's
    problem may suggest a close name, which must not cost a sort of the known names per
    reference (issue 26: 15-30 s before)."""
    endpoints = {
        f"p{e:05d}": {"auth": {"password_secret": "pw"}, "context": f"ctx{e}"} for e in range(5_000)
    }
    groups = {
        f"g{g:04d}": {"endpoints": [f"q{(g * 64 + m) % 9_000:05d}" for m in range(64)]}
        for g in range(1_000)
    }
    extensions = {f"{10_000 + e}": f"x{e:05d}" for e in range(9_000)}
    plan = {"extensions": extensions, "ring_groups": groups}
    text = dump({"addresses": ADDRESSES, "endpoints": endpoints, "dialplan": plan})
    what = "5,000 unknown contexts, 64,000 unknown ring-group members, 9,000 unknown extensions"
    return Case("unknown-refs", what, {"site.yaml": text}, {"pw": b"secret"}, 5.0, valid=False)


def error_mix() -> Case:
    """Field errors next to values refused while parsing (ambiguous YAML): each error is
    compared with the refused paths, which must not be every error against every path
    (issue 26: 7 to over 30 s before)."""
    lines = ["addresses: {ipv6: 2001:db8:e8b1::1:1}", "endpoints:"]
    for e in range(9_000):
        # max_contacts 0x10 is refused by the YAML reader (ambiguous), codecs by the model.
        lines.append(f"  e{e:05d}: {{max_contacts: 0x10, codecs: [x], context: local}}")
    lines.append(
        "dialplan: {extensions: {" + ", ".join(f"'{i}': 0o{i}" for i in range(1_000)) + "}}"
    )
    text = "\n".join(lines) + "\n"
    what = "9,000 values refused by the YAML reader, 10,000 field errors"
    return Case("error-mix", what, {"site.yaml": text}, {}, 5.0, valid=False)


def identify_budget() -> Case:
    """65,536 /48s (a whole /32) as 1,024 endpoints of 64 that can call out: each entry is
    narrow enough, together they are refused by the budget (reach.py)."""
    endpoints = {
        f"e{e:04d}": {"identify": [f"2001:db8:{e * 64 + i:x}::/48" for i in range(64)]}
        for e in range(1_024)
    }
    text = dump({"addresses": ADDRESSES, "endpoints": endpoints})
    what = "1,024 endpoints x 64 /48s that can call out (a /32)"
    return Case("identify-budget", what, {"site.yaml": text}, {}, 5.0, valid=False)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call (CPU time: what the call costs whatever else the
    shared machine runs meanwhile)."""
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def run_case(case: Case, runs: int) -> tuple[float, float, float, int]:
    """Median CPU time of load(+render), median wall time, MB of YAML, problems found."""
    config = [Mount(path=Path("/bench/site"), files={k: v.encode() for k, v in case.files.items()})]
    secrets = [Mount(path=Path("/bench/secrets"), files=case.secrets)]
    found = [0]

    def once() -> None:
        try:
            loaded = load_site(config, secrets)
        except SiteInvalid as exc:
            found[0] = len(exc.problems)
            if case.valid:
                raise AssertionError([str(p) for p in exc.problems[:5]]) from None
            return
        if not case.valid:
            raise AssertionError(f"{case.name}: expected problems")
        render(loaded, CONTEXT)

    times = [timed(once) for _ in range(runs)]
    size = sum(len(v.encode()) for v in case.files.values()) / 1e6
    cpu = statistics.median(t[1] for t in times)
    wall = statistics.median(t[0] for t in times)
    return cpu, wall, size, found[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--case", action="append", help="run only these cases (no report)")
    args = parser.parse_args()
    makers = [
        identify_50k,
        spread_10k,
        worst_valid,
        worst_invalid,
        worst_overlap,
        most_identify,
        unknown_refs,
        error_mix,
        identify_budget,
    ]
    cases = [m() for m in makers if not args.case or m.__name__.replace("_", "-") in args.case]
    rows = []
    with LoadSampler() as load:
        measured = [(case, *run_case(case, args.runs)) for case in cases]
    for case, cpu, wall, size, problems in measured:
        assert size <= limits.MAX_SITE_BYTES / 1e6 * 1.05, (case.name, size)
        verdict = "met" if cpu < case.target else "NOT met"
        rows.append(
            f"| {case.name} | {case.what} | {len(case.files)} | {size:.2f} | "
            f"{'valid' if case.valid else f'{problems:,} problems'} | {cpu:.2f} s | "
            f"{wall:.2f} s | {cpu / size:.2f} s | < {case.target:.0f} s: {verdict} |"
        )
        print(rows[-1], flush=True)
    lines = [
        *header("Limits benchmark", load.summary(), report=args.report),
        "Sites at and near the limits of",
        "supervisor/site/limits.py, loaded (YAML, validation, checks, Secrets) and, when valid,",
        "rendered (with the output guard reading every file back); invalid sites until every",
        "problem is reported. In memory, so the figures are the pure functions' cost.",
        "",
        f"Machine: {machine()}.",
        "",
        "The targets are judged on the process's CPU time: wall-clock time also counts the wait",
        "for a core whenever the load average exceeds the cores.",
        "",
        f"| site | what | files | MB of YAML | outcome | CPU (median of {args.runs}) | wall "
        "| CPU per MB | target (CPU) |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "worst-valid: 200 trunks (8 hosts, 64 identify each, 3 with 1,000 DIDs), 10,000",
        "endpoints (5,000 with a Secret password, 5,000 with 14 identify entries: 82,800 identify",
        "entries with the trunks'), 1,000 ring groups of 64, 6,000 extensions, 1,000 inbound",
        "routes, 100 outbound routes, 16 files: up to the byte limit (3 MiB) with every",
        "collection near its own limit. worst-invalid: every endpoint with 20 bad identify",
        "entries and 3 bad fields (240,000 errors in all; reporting stops at 1,000).",
        "worst-overlap: every entry overlapping others (nested /48 and repeated /128s), so the",
        "overlap check takes its slow path and reports at the limit. most-identify: the most",
        "identify entries the byte limit admits (past the 100,000 total: counted, refused).",
        "unknown-refs: a reference to a missing name everywhere one is allowed (contexts, ring-",
        "group members, extensions), each a problem that may suggest a close name.",
        "error-mix: field errors next to values the YAML reader refused, each error compared",
        "with the refused paths. identify-budget: 65,536 /48s (a /32) that can call out, each",
        "narrow enough, refused together by the per-site budget (supervisor/site/reach.py).",
        "",
    ]
    report = "\n".join(lines)
    if args.case:
        print(report)
        return
    write(args.report, report)
    print(report)


if __name__ == "__main__":
    main()
