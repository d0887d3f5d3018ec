"""Cost of the call-time safety check (supervisor/render/callcheck.py) on the largest dialplans
the site allows, and its growth with size.

    python -m bench.bench_callcheck [--runs N] [--report bench/reports/callcheck.md]

1. The generated dialplan of the largest site: MAX_ENDPOINTS phones (each with an extension,
   in ring groups of 10), 100 trunks with 4 DIDs each and the 100 outbound routes the model
   allows, rendered by the real renderer; plus the largest raw snippet (64 KiB) in the worst
   shape for the checker: every line at the raw line limit, packed with references nested to
   the checker's depth limit, expressions, function calls and protected writes.
2. Growth: the worst-shape dialplan at 64 KiB, 256 KiB, 1 MiB and 4 MiB. Linear cost shows as
   a flat CPU time per MiB (the checker scans each reference once per nesting level, and the
   depth is bounded).

CPU seconds (process time), the median of N runs each; the checker itself only (the file is
parsed once, outside the timing, as the output guard has it parsed already).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.bench_render import generate
from bench.report import LoadSampler, header, write
from supervisor.confparse import Item, parse
from supervisor.render import RenderContext, render
from supervisor.render.callcheck import MAX_DEPTH, check
from supervisor.site.limits import MAX_RAW_LINE_BYTES
from supervisor.site.load import load_site
from supervisor.site.model import MAX_ENDPOINTS
from supervisor.site.mounts import Mount

REPORT = Path(__file__).resolve().parent / "reports" / "callcheck.md"
KiB = 1024
RAW_BYTES = 64 * KiB
TRUNKS = 100
SIZES = (64 * KiB, 256 * KiB, 1024 * KiB, 4096 * KiB)
#: Target: the check adds little to a render (the guard runs on every apply).
TARGET_S = 0.5


def _nested(depth: int) -> str:
    """A reference nested `depth` deep: ${SAFE_A:${LEN(${FILTER(0-9,${EXTEN})})}} and so on."""
    text = "${EXTEN}"
    for level in range(depth - 1):
        text = f"${{FILTER(0-9,{text})}}" if level % 2 else f"${{LEN({text})}}"
    return text


def worst_lines(size: int) -> str:
    """A dialplan of about `size` bytes, each line near the raw line limit, made of what costs
    the checker most: deep nesting, expressions with function-like words, Set and other
    applications (all clean, so that nothing stops the scan early)."""
    deep = _nested(MAX_DEPTH - 2)
    unit = f"$[${{SAFE_A:{deep}}} = 1 & aaaaaaaaaaaaaaaaaaaa = ${{FLOW_B}}] "
    apps = [
        "GotoIf({}?a)",
        "Set(SAFE_A={})",
        "Dial(PJSIP/{}@provider,30)",
        "ExecIf({}?Hangup(28))",
    ]
    lines = ["[worst]", "exten => _X.,1,NoOp()"]
    total = sum(len(line) + 1 for line in lines)
    i = 0
    while total < size:
        template = apps[i % len(apps)]
        body = unit * ((MAX_RAW_LINE_BYTES - 40) // len(unit))
        line = " same => n," + template.format(body.strip())
        lines.append(line)
        total += len(line) + 1
        i += 1
    return "\n".join(lines) + "\n"


def largest_generated() -> str:
    """The extensions.conf of the largest generated site, as the renderer writes it."""
    text, secrets = generate(endpoints=MAX_ENDPOINTS, trunks=TRUNKS)
    config = [Mount(path=Path("/bench/site"), files={"site.yaml": text.encode()})]
    loaded = load_site(config, [Mount(path=Path("/bench/secrets"), files=secrets)])
    return render(loaded, RenderContext(ami_secret="bench-secret"))["extensions.conf"]


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.process_time()
    fn()
    return time.process_time() - start


def measure(items: list[Item], runs: int) -> tuple[float, float, float]:
    times = [timed(lambda: check(items)) for _ in range(runs)]
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()

    with LoadSampler() as load_average:
        generated = largest_generated()
        raw = worst_lines(RAW_BYTES)
        whole = parse(generated + raw)
        assert check(whole) == [], "the benchmark's dialplan must be clean (a full scan)"
        largest = measure(whole, args.runs)
        growth = []
        for size in SIZES:
            text = worst_lines(size)
            items = parse(text)
            growth.append((len(text.encode()), len(items), measure(items, args.runs)))
    lines = [
        *header("Call-time safety check benchmark", load_average.summary(), report=args.report),
        f"The largest generated dialplan ({MAX_ENDPOINTS:,} phones with extensions, "
        f"{TRUNKS} trunks, {TRUNKS} outbound routes; {len(generated.encode()) / 1e6:.2f} MB, "
        f"{generated.count(chr(10)):,} lines) plus the largest raw snippet "
        f"({RAW_BYTES // KiB} KiB of worst-shape lines: references nested {MAX_DEPTH} deep, "
        "expressions, protected writes).",
        "",
        f"| input | bytes | lines | CPU s, median of {args.runs} | min | max |",
        "|---|---|---|---|---|---|",
        f"| generated + raw | {len((generated + raw).encode()):,} | {len(whole):,} | "
        f"{largest[0]:.3f} | {largest[1]:.3f} | {largest[2]:.3f} |",
        "",
        "Growth with size (worst-shape lines only):",
        "",
        f"| bytes | lines | CPU s, median of {args.runs} | CPU s per MiB |",
        "|---|---|---|---|",
    ]
    for size, count, (median, _, _) in growth:
        lines.append(f"| {size:,} | {count:,} | {median:.3f} | {median / (size / KiB**2):.3f} |")
    per_mib = [m / (s / KiB**2) for s, _, (m, _, _) in growth]
    spread = max(per_mib) / min(per_mib)
    lines += [
        "",
        f"CPU time per MiB varies by a factor of {spread:.2f} from {SIZES[0] // KiB} KiB to "
        f"{SIZES[-1] // KiB} KiB ({SIZES[-1] // SIZES[0]}x the input): "
        f"{'linear' if spread < 2 else 'NOT linear'}.",
        f"Target: the largest allowed dialplan checked in under {TARGET_S} s: "
        f"{'met' if largest[0] < TARGET_S else 'NOT met'}.",
    ]
    report = "\n".join(lines)
    write(args.report, report)
    print(report)


if __name__ == "__main__":
    main()
