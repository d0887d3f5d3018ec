"""The call record's costs: /calls latency over 1,000,000 calls, disk and fold cost per call, and
(with --lab) what recording costs Asterisk per call at 20 calls/s.

    python -m bench.bench_records [--calls 1000000] [--disk-calls 100000] [--lab-seconds 60]
        [--report bench/reports/records.md]

Targets (issue 25): the last 100 calls from /calls in < 50 ms and a filtered query in < 200 ms
with 1,000,000 calls on the record. /calls is measured end to end over HTTP (aiohttp on
loopback, the product's route and store), sequential requests, p50/p99 of 200 each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import resource
import sqlite3
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from bench.report import REPORTS, LoadSampler, header, percentile, quantile_text, write
from supervisor.http import bound_port, make_app, start
from supervisor.records import schema
from supervisor.records.fold import CallRecord
from supervisor.records.store import RecordStore
from supervisor.records.web import add_calls_route

REPORT = REPORTS / "records.md"
TRUNKS = {"provider": "provider"}
REQUESTS = 200
NUMBERS = 20_000  # distinct outside numbers calling in or called
EXTENSIONS = 200


def synthetic(n: int, start: float) -> list[CallRecord]:
    """n calls over the 30 days before `start`, a mix of directions and outcomes."""
    rng = random.Random(25)
    calls = []
    span = 30 * 86400
    outcomes = ("answered",) * 6 + ("busy", "no_answer", "cancelled", "failed")
    for i in range(n):
        t = start - span + span * i / n
        direction = rng.choice(("inbound", "outbound", "internal"))
        outside = f"+4930{rng.randrange(NUMBERS):07d}"
        extension = str(100 + rng.randrange(EXTENSIONS))
        caller, callee = (outside, extension) if direction == "inbound" else (extension, outside)
        outcome = rng.choice(outcomes)
        answered = t + rng.uniform(1, 10) if outcome == "answered" else None
        ended = (answered or t) + rng.uniform(1, 300)
        calls.append(
            CallRecord(
                linkedid=f"{int(t)}.{i}",
                started=t,
                answered=answered,
                ended=ended,
                direction=direction,
                trunk="" if direction == "internal" else "provider",
                caller=caller,
                callee=callee,
                answered_by=extension if answered else "",
                outcome=outcome,
                cause=16,
                voicemail=False,
                end_seen=True,
            )
        )
    return calls


def fill(store: RecordStore, calls: list[CallRecord]) -> None:
    columns = ", ".join(schema.CALL_COLUMNS)
    marks = ", ".join("?" * len(schema.CALL_COLUMNS))
    with sqlite3.connect(store.path) as db:
        db.executemany(
            f"INSERT INTO calls ({columns}) VALUES ({marks})",
            (
                (
                    c.linkedid,
                    c.started,
                    c.answered,
                    c.ended,
                    c.direction,
                    c.trunk,
                    c.caller,
                    c.callee,
                    c.answered_by,
                    c.outcome,
                    c.cause,
                    int(c.voicemail),
                    int(c.end_seen),
                )
                for c in calls
            ),
        )


async def http_latencies(store: RecordStore, queries: list[str]) -> list[float]:
    app = make_app(CollectorRegistry())
    add_calls_route(app, store)
    runner = await start(app, "127.0.0.1", 0)
    times = []
    try:
        base = f"http://127.0.0.1:{bound_port(runner)}/calls"
        async with aiohttp.ClientSession() as session:
            for query in queries:
                t0 = time.perf_counter()
                async with session.get(base + query) as resp:
                    await resp.read()
                    assert resp.status == 200, (query, resp.status)
                times.append((time.perf_counter() - t0) * 1000)
    finally:
        await runner.cleanup()
    return times


def run(coro: Callable[[], Coroutine[Any, Any, list[float]]]) -> list[float]:
    return asyncio.run(coro())


def history_latency(calls: int, work: Path) -> dict[str, Any]:
    store = RecordStore(work / "history" / schema.RELATIVE_PATH)
    store.create()
    now = time.time()
    t0 = time.perf_counter()
    fill(store, synthetic(calls, now))
    filled = time.perf_counter() - t0
    rng = random.Random(7)
    numbers = [f"+4930{rng.randrange(NUMBERS):07d}" for _ in range(REQUESTS)]
    extensions = [str(100 + rng.randrange(EXTENSIONS)) for _ in range(REQUESTS)]
    cases = {
        "last 100": ["?limit=100"] * REQUESTS,
        "last 100, since 1d": ["?limit=100&since=1d"] * REQUESTS,
        "by outside number (about 50 calls each), 100": [
            f"?limit=100&number=%2B{n[1:]}" for n in numbers
        ],
        "by extension (about 5,000 calls each), 100": [
            f"?limit=100&number={e}" for e in extensions
        ],
        "by extension, since 1d, 100": [f"?limit=100&since=1d&number={e}" for e in extensions],
    }
    results = {}
    for name, queries in cases.items():
        run(lambda q=queries: http_latencies(store, q[:5]))  # warm the page cache
        results[name] = run(lambda q=queries: http_latencies(store, q))
    size = sum(p.stat().st_size for p in store.path.parent.iterdir())
    return {"fill_s": filled, "cases": results, "bytes": size}


def cel_rows(i: int, t: float) -> list[tuple[Any, ...]]:
    """An inbound answered call as Asterisk 22.10 writes it (7 events, fields as text)."""
    lid = f"{int(t)}.{2 * i}"
    leg = f"{int(t)}.{2 * i + 1}"
    caller, chan, phone = f"+4930{i % NUMBERS:07d}", f"PJSIP/provider-{i:08x}", "PJSIP/desk-1"
    hang = '{"hangupcause":16,"hangupsource":"","dialstatus":"ANSWER"}'
    return [
        ("CHAN_START", f"{t:.6f}", caller, "+4930123456", chan, "", lid, lid, ""),
        ("CHAN_START", f"{t + 0.01:.6f}", "", "s", phone, "", leg, lid, ""),
        ("ANSWER", f"{t + 2:.6f}", "", "+4930123456", phone, "AppDial", leg, lid, ""),
        ("ANSWER", f"{t + 2.01:.6f}", caller, "+4930123456", chan, "Dial", lid, lid, ""),
        ("HANGUP", f"{t + 60:.6f}", caller, "+4930123456", chan, "", lid, lid, hang),
        ("HANGUP", f"{t + 60.01:.6f}", "", "", phone, "AppDial", leg, lid, hang),
        ("LINKEDID_END", f"{t + 60.01:.6f}", "", "", phone, "", leg, lid, ""),
    ]


def disk_and_fold(calls: int, work: Path) -> dict[str, float]:
    """`calls` calls written as CEL in batches of 1,000 (as a busy Asterisk would between two
    folds) and folded by the product's store; the file's size after, and fold CPU per call."""
    store = RecordStore(work / "disk" / schema.RELATIVE_PATH)
    store.create()
    columns = ", ".join(c for c, _ in schema.CEL_COLUMNS)
    fold_cpu = fold_wall = 0.0
    start = time.time() - calls
    for batch in range(0, calls, 1000):
        with sqlite3.connect(store.path) as db:
            rows = [
                r for i in range(batch, min(batch + 1000, calls)) for r in cel_rows(i, start + i)
            ]
            db.executemany(f"INSERT INTO cel ({columns}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        c0, w0 = time.process_time(), time.perf_counter()
        while store.fold_ended(TRUNKS):
            pass
        fold_cpu += time.process_time() - c0
        fold_wall += time.perf_counter() - w0
    with sqlite3.connect(store.path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        folded = db.execute("SELECT count(*) FROM calls").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        page = db.execute("PRAGMA page_size").fetchone()[0]
    assert folded == calls, (folded, calls)
    size = store.path.stat().st_size
    return {
        "bytes": size,
        "free_bytes": free * page,
        "fold_cpu_ms": fold_cpu / calls * 1000,
        "fold_wall_ms": fold_wall / calls * 1000,
    }


def lab_cost(seconds: int) -> dict[str, float]:
    """Asterisk's CPU per call at 20 calls/s, with the record (CEL to SQLite, folded by the
    recorder) and without (the AMI lab PBX as it was), `seconds` of calls each."""
    from lab import sipp
    from lab.amipbx import AmiLab
    from lab.netns import DOORBELL_V4, POD_V4
    from lab.recordpbx import RecordPbx
    from lab.rootfs import ensure_rootfs

    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    out = {}
    for name, make in (("without", AmiLab), ("with", RecordPbx)):
        pbx = make(ensure_rootfs())
        try:
            pbx.start_asterisk()
            pbx.start_supervisor()
            pbx.wait_booted()
            calls = 20 * seconds
            uac = sipp.Sipp(pbx.lab, pbx.run, "doorbell", [], name=f"uac-cost-{name}")
            uac.args = [f"{POD_V4}:5060", "-sf", uac.scenario("uac_any.xml"), "-s", "10"]
            uac.args += ["-i", DOORBELL_V4, "-p", "0", "-m", str(calls), "-r", "20"]
            uac.args += ["-l", "200", "-d", "1000", "-timeout", f"{seconds + 60}s"]
            c0, s0 = cpu(pbx.asterisk.pid), resource.getrusage(resource.RUSAGE_SELF)
            pbx._launch(uac)
            uac.wait(seconds + 90)  # some calls may fail under load: counted below
            time.sleep(3)
            c1, s1 = cpu(pbx.asterisk.pid), resource.getrusage(resource.RUSAGE_SELF)
            out[f"asterisk_ms_{name}"] = (c1 - c0) / calls * 1000
            own = (s1.ru_utime + s1.ru_stime) - (s0.ru_utime + s0.ru_stime)
            out[f"supervisor_ms_{name}"] = own / calls * 1000
            text = uac.output()
            ok = re.search(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", text)
            out[f"sipp_ok_{name}"] = int(ok.group(1)) if ok else -1
            # uac_any completes on any final response: the 200s are the answered calls (the
            # arrow, then labels such as E-RTD1, then the count).
            answered = re.search(
                r"^\s*(?:\d+:)?\s*200 <-+((?:\s+\S*[A-Za-z]\S*)*)\s+(\d+)", text, re.M
            )
            out[f"sipp_200_{name}"] = int(answered.group(2)) if answered else -1
            if isinstance(pbx, RecordPbx):
                counts = pbx.counts()
                out["recorded_answered"] = counts.get(("internal", "", "answered"), 0)
                out["recorded_total"] = sum(counts.values())
                out["outcomes"] = ", ".join(f"{k[2]} {v:,}" for k, v in sorted(counts.items()))
        finally:
            pbx.close()
    out["calls"] = 20 * seconds
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--disk-calls", type=int, default=100_000)
    parser.add_argument("--lab-seconds", type=int, default=0, help="0: no lab part")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    with LoadSampler() as load, tempfile.TemporaryDirectory() as tmp:
        history = history_latency(args.calls, Path(tmp))
        disk = disk_and_fold(args.disk_calls, Path(tmp))
        lab = lab_cost(args.lab_seconds) if args.lab_seconds else None
    lines = [*header("Call record benchmark", load.summary(), report=args.report)]
    lines += [
        f"## /calls over {args.calls:,} calls",
        "",
        f"Filled in {history['fill_s']:.1f} s; record file {history['bytes'] / 1e6:.0f} MB. "
        f"Each case: {REQUESTS} sequential requests over HTTP on loopback, milliseconds.",
        "",
        "| query | p50 | p99 | max | target |",
        "|---|---|---|---|---|",
    ]
    for name, times in history["cases"].items():
        target = 50 if name.startswith("last 100") else 200
        p99 = percentile(times, 0.99)
        verdict = "met" if p99 < target else "NOT met"
        lines.append(
            f"| {name} | {percentile(times, 0.5):.1f} | {quantile_text(times, 0.99)} | "
            f"{max(times):.1f} | p99 < {target} ms: {verdict} |"
        )
    per = disk["bytes"] / args.disk_calls
    lines += [
        "",
        f"## Disk and fold cost, {args.disk_calls:,} calls",
        "",
        "Calls written as CEL rows as Asterisk 22.10 writes them (7 events each), 1,000 between",
        "two folds, folded by the product's store.",
        "",
        f"- record file after folding: {disk['bytes'] / 1e6:.1f} MB, {per:.0f} bytes per call, "
        f"{per * 100_000 / 1e6:.1f} MB per 100,000 calls "
        f"(of which free pages left by the folded events: {disk['free_bytes'] / 1e6:.1f} MB)",
        f"- fold: {disk['fold_cpu_ms']:.3f} ms CPU, {disk['fold_wall_ms']:.3f} ms wall per call",
    ]
    if lab is not None:
        lines += [
            "",
            f"## Recording cost in the lab, {lab['calls']:,} calls at 20 calls/s",
            "",
            "A real Asterisk 22 with and without the record (CEL to SQLite, folded by the",
            "recorder); doorbell calls answered by a phone, held 1 s. CPU per call:",
            "",
            "| | Asterisk | supervisor (AMI client, state, recorder) | sipp: completed / 200 OK |",
            "|---|---|---|---|",
            f"| without the record | {lab['asterisk_ms_without']:.2f} ms | "
            f"{lab['supervisor_ms_without']:.2f} ms | {lab['sipp_ok_without']:,} / "
            f"{lab['sipp_200_without']:,} |",
            f"| with the record | {lab['asterisk_ms_with']:.2f} ms | "
            f"{lab['supervisor_ms_with']:.2f} ms | {lab['sipp_ok_with']:,} / "
            f"{lab['sipp_200_with']:,} |",
            "",
            f"With the record, the recorder counted {lab['recorded_total']:,} calls, "
            f"{lab['recorded_answered']:,} answered (sipp: {lab['sipp_200_with']:,} answered with "
            "200 OK; uac_any completes a call on any final response, so the others were busy or "
            "unanswered at the far end: {other}).".replace("{other}", lab["outcomes"]),
        ]
    text = "\n".join(lines)
    print(text)
    write(args.report, text)


if __name__ == "__main__":
    main()
