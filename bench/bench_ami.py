"""AMI event throughput: a real captured Asterisk 22 event stream replayed over loopback.

    python -m bench.bench_ami capture    # as root: the lab's Asterisk, 30 calls, raw AMI bytes
    python -m bench.bench_ami            # replay both (below); writes bench/reports/ami.md
    python -m bench.bench_ami quality-capture   # as root: 20 calls with audio both ways
    python -m bench.bench_ami quality    # replay it: call quality's extra events and CPU per call

`capture` records, byte for byte, what two AMI users receive during the 30-call mix of the lab
tests: the supervisor's rendered user (classes and event filters) and an unfiltered `read = all`
user. Only bytes Asterisk sent after the login response are kept (no credentials travel in
them; the capture checks that no secret of the run appears) and stored gzipped in bench/data/.

The replay serves the stream from a fake AMI over TCP on loopback (real wire protocol, repeated
with fresh Uniqueid/Linkedid values each round so that every call is new to the state), to:
- ours: AmiClient + AsteriskState (parse, route, state updates: the whole event path), and
- bare: panoramisk's Manager with one catch-all callback that only counts (its fastest dispatch),
alternating in the same run; each figure is the best of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import re
import sys
import time
from pathlib import Path
from typing import Any

from panoramisk import Manager

from bench.report import REPORTS, LoadSampler, header, write
from supervisor.ami.client import AmiClient, AmiSettings
from supervisor.ami.state import AsteriskState
from supervisor.app import build_ami, build_core
from supervisor.settings import Settings

DATA = Path(__file__).resolve().parent / "data"
REPORT = REPORTS / "ami.md"
STREAMS = {"unfiltered": "ami-calls-unfiltered.txt.gz", "filtered": "ami-calls-filtered.txt.gz"}
QUALITY_STREAM = "ami-calls-audio-filtered.txt.gz"
END = b"Event: BenchEnd\r\nPrivilege: system,all\r\n\r\n"
_UNIQUEID = re.compile(rb"\b(\d{10})\.(\d+)\b")


# ---- capture ---------------------------------------------------------------------------------


def capture() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from lab.amipbx import AmiLab
    from lab.asterisk import wait_until
    from lab.rootfs import ensure_rootfs

    pbx = AmiLab(ensure_rootfs())
    try:
        pbx.start_registrar()
        pbx.start_asterisk()
        pbx.start_supervisor()
        pbx.wait_booted()
        stop = asyncio.Event()
        users = {
            "filtered": (pbx.ami_user, pbx.ami_secret),
            "unfiltered": (pbx.all_user, pbx.all_secret),
        }
        futures = {
            name: pbx.loop.submit(record(user, secret, stop))
            for name, (user, secret) in users.items()
        }
        time.sleep(0.5)
        uacs = [
            pbx.call("doorbell", "10", calls=6, hold_ms=1000),
            pbx.call("doorbell", "11", calls=3),
            pbx.call("doorbell", "12", calls=3),
            pbx.call("provider", "100", calls=6, hold_ms=3000),
            pbx.call("provider", "101", calls=3),
            pbx.call("provider", "102", calls=3),
            pbx.call("doorbell", "20", calls=3, hold_ms=1000),
            pbx.call("doorbell", "21", calls=3),
        ]
        for uac in uacs:
            uac.wait(60)
        wait_until(lambda: pbx.on_loop(lambda: pbx.state.calls.count) == 0, 10)
        time.sleep(1.0)
        pbx.loop.loop.call_soon_threadsafe(stop.set)
        secrets_of_run = [pbx.ami_secret, pbx.all_secret, pbx.trunk_password]
        DATA.mkdir(exist_ok=True)
        for name, future in futures.items():
            data = future.result(10)
            for secret in secrets_of_run:
                assert secret.encode() not in data, "a secret in the capture"
            (DATA / STREAMS[name]).write_bytes(gzip.compress(data, mtime=0))
            print(f"{name}: {data.count(b'Event: ')} events, {len(data)} bytes")
    finally:
        pbx.close()


async def record(user: str, secret: str, stop: asyncio.Event) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", 5038)
    await reader.readline()  # greeting
    writer.write(
        f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: on\r\n\r\n".encode()
    )
    response = await reader.readuntil(b"\r\n\r\n")
    assert b"Response: Success" in response, "login refused"
    chunks: list[bytes] = []
    while not stop.is_set():
        try:
            data = await asyncio.wait_for(reader.read(65536), 0.2)
        except TimeoutError:
            continue
        if not data:
            break
        chunks.append(data)
    writer.close()
    data = b"".join(chunks)
    return data[: data.rfind(b"\r\n\r\n") + 4]  # whole messages only


# ---- replay ----------------------------------------------------------------------------------


def capture_quality() -> None:
    """The rendered user's stream during 20 answered calls with audio both ways (10 inbound
    from the provider, 10 outbound to it; 3 s of talk), as the quality lab test places them."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from lab.asterisk import wait_until, write_config
    from lab.rootfs import ensure_rootfs
    from supervisor.render.context import RenderContext
    from supervisor.render.core import render_rtp
    from supervisor.site.model import Site
    from tests.supervisor.ami.test_quality_lab import QualityLab

    pbx = QualityLab(ensure_rootfs())
    try:
        context = RenderContext(ami_secret=pbx.ami_secret, rtp_start=10000, rtp_end=10100)
        write_config(pbx.run, {"rtp.conf": render_rtp(Site.model_construct(), context)})
        pbx.talking_far_ends()
        pbx.start_asterisk()
        pbx.start_supervisor()
        pbx.wait_booted()
        stop = asyncio.Event()
        future = pbx.loop.submit(record(pbx.ami_user, pbx.ami_secret, stop))
        time.sleep(0.5)
        uacs = [pbx.talk("inbound", 10, hold_ms=3000), pbx.talk("outbound", 10, hold_ms=3000)]
        for uac in uacs:
            assert uac.wait(60) == 0, uac.output()[-1500:]
        wait_until(lambda: pbx.on_loop(lambda: pbx.state.calls.count) == 0, 10)
        time.sleep(1.0)
        pbx.loop.loop.call_soon_threadsafe(stop.set)
        data = future.result(10)
        for secret in (pbx.ami_secret, pbx.all_secret, pbx.trunk_password):
            assert secret.encode() not in data, "a secret in the capture"
        (DATA / QUALITY_STREAM).write_bytes(gzip.compress(data, mtime=0))
        print(
            f"{data.count(b'Event: ')} events, {data.count(b'Variable: RTPAUDIOQOS')} RTPAUDIOQOS"
        )
    finally:
        pbx.close()


def load(name: str) -> bytes:
    return gzip.decompress((DATA / STREAMS.get(name, name)).read_bytes())


def repeated(stream: bytes, rounds: int) -> bytes:
    """`rounds` copies with distinct Uniqueid/Linkedid epochs, so calls never repeat."""
    parts = []
    for i in range(rounds):
        epoch = str(1_000_000_000 + i).encode()
        parts.append(_UNIQUEID.sub(lambda m, e=epoch: e + b"." + m.group(2), stream))
    return b"".join(parts)


class ReplayServer:
    """A fake AMI: greeting, any login accepted, Success to any action, and the stream right
    after the login response (as Asterisk sends events to a fresh session)."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.port = 0
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> ReplayServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)  # so close() can end it before the loop does (no stray traceback)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        buffer = b""
        sent = False
        try:
            while data := await reader.read(65536):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    block, buffer = buffer.split(b"\r\n\r\n", 1)
                    action_id = re.search(rb"ActionID: (.*)", block)
                    aid = action_id.group(1).strip() if action_id else b""
                    writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\n\r\n")
                    if b"Action: Login" in block and not sent:
                        sent = True
                        writer.write(self.payload + END)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            # Ending normally when close() cancels: asyncio's stream callback would otherwise
            # print a CancelledError traceback for each connection as the loop shuts down.
            pass
        finally:
            writer.close()


async def run_ours(payload: bytes, *, quality: bool = False) -> float:
    """Seconds until the whole stream went through the client and the state (through the
    product's whole AMI slice, call quality included, when `quality`)."""
    server = await ReplayServer(payload).start()
    done = asyncio.Event()
    settings = AmiSettings(
        username="bench", secret="bench", port=server.port, ping_interval=3600, action_timeout=60
    )
    if quality:  # the product's AMI slice: state, call quality, mailboxes, collectors
        ami = build_ami(build_core(Settings(config_dirs=())), settings)
        client, state = ami.client, ami.state
    else:  # the client and the state alone
        state = AsteriskState()
        client = AmiClient(settings=settings, state=state)
    state.calls.set_trunks({"provider": "provider"})
    client.subscribe("BenchEnd", lambda _e: done.set())
    start = time.perf_counter()
    task = asyncio.create_task(client.run(), name="ami-bench")
    await done.wait()
    elapsed = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await server.close()
    return elapsed


async def run_bare(payload: bytes) -> float:
    server = await ReplayServer(payload).start()
    done = asyncio.Event()
    count = 0

    def on_event(_manager: Any, message: Any) -> None:
        nonlocal count
        count += 1
        if message.event == "BenchEnd":
            done.set()

    manager = Manager(
        loop=asyncio.get_running_loop(),
        host="127.0.0.1",
        port=server.port,
        username="bench",
        secret="bench",
        ping_delay=3600,
        reconnect_timeout=3600,
    )
    manager.register_event("*", on_event)
    start = time.perf_counter()
    manager.connect()
    await done.wait()
    elapsed = time.perf_counter() - start
    manager.close()
    await server.close()
    return elapsed


def replay(name: str, rounds: int, repeats: int) -> dict[str, float]:
    payload = repeated(load(name), rounds)
    events = payload.count(b"Event: ") + 1
    best = {"ours": float("inf"), "bare": float("inf")}
    for _ in range(repeats):
        best["ours"] = min(best["ours"], asyncio.run(run_ours(payload)))
        best["bare"] = min(best["bare"], asyncio.run(run_bare(payload)))
    return {
        "events": events,
        "ours": events / best["ours"],
        "bare": events / best["bare"],
        "ratio": best["bare"] / best["ours"],
    }


def replay_quality(rounds: int, repeats: int) -> list[str]:
    """Events per call in the audio capture, and CPU per call: the stream without its
    RTPAUDIOQOS events (the user before call quality), with them but nothing listening, and
    through the product's AMI slice (supervisor.app.build_ami), call quality included.

    CPU is process time for the whole replay (fake server included, the same in all three);
    best of `repeats` runs each, alternating."""
    stream = load(QUALITY_STREAM)
    calls = len(set(re.findall(rb"Linkedid: (\S+)", stream)))
    events = stream.count(b"Event: ")
    varsets = stream.count(b"Variable: RTPAUDIOQOS")
    messages = stream.split(b"\r\n\r\n")
    stripped = b"\r\n\r\n".join(m for m in messages if b"Variable: RTPAUDIOQOS" not in m)
    variants = {
        "stream without RTPAUDIOQOS (before)": (repeated(stripped, rounds), False),
        "with RTPAUDIOQOS, not used": (repeated(stream, rounds), False),
        "with RTPAUDIOQOS and CallQuality (now)": (repeated(stream, rounds), True),
    }
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeats):
        for name, (payload, quality) in variants.items():
            cpu = time.process_time()
            asyncio.run(run_ours(payload, quality=quality))
            best[name] = min(best[name], time.process_time() - cpu)
    total = calls * rounds
    first, last = best[next(iter(variants))], best[list(variants)[-1]]
    return [
        f"The capture ({QUALITY_STREAM}): {calls} answered calls with audio, {events} events "
        f"({events / calls:.1f} per call), of which {varsets} RTPAUDIOQOS VarSet "
        f"({varsets / calls:.1f} per call). Replayed {rounds} times ({total:,} calls), best of "
        f"{repeats} runs each, alternating; process CPU per call:",
        "",
        "| stream | CPU per call |",
        "|---|---:|",
        *(f"| {name} | {seconds / total * 1e6:.0f} µs |" for name, seconds in best.items()),
        f"| **call quality adds** | **{(last - first) / total * 1e6:.0f} µs** |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_ami", description=__doc__)
    parser.add_argument(
        "mode",
        nargs="?",
        choices=("replay", "capture", "quality", "quality-capture"),
        default="replay",
    )
    parser.add_argument("--rounds", type=int, default=60, help="copies of the capture per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per pipeline (best kept)")
    parser.add_argument("--quality-rounds", type=int, default=200, help="copies of the capture")
    parser.add_argument("--quality-repeats", type=int, default=7, help="runs per variant")
    args = parser.parse_args()
    if args.mode == "capture":
        capture()
        return 0
    if args.mode == "quality-capture":
        capture_quality()
        return 0
    if args.mode == "quality":
        print("\n".join(replay_quality(args.quality_rounds, args.quality_repeats)))
        return 0
    with LoadSampler() as load:
        throughput = {name: replay(name, args.rounds, args.repeats) for name in STREAMS}
        quality = replay_quality(args.quality_rounds, args.quality_repeats)
    lines = [
        *header(
            "AMI event pipeline: throughput and call quality's cost", load.summary(), report=REPORT
        ),
        "## Event throughput: our pipeline vs bare panoramisk dispatch",
        "",
        f"The captured streams (bench/data/) repeated {args.rounds} times with fresh "
        "Uniqueid/Linkedid values, served by a fake AMI over TCP on loopback; best of "
        f"{args.repeats} runs each, alternating in the same process.",
        "",
        "| stream | events | ours (events/s) | bare panoramisk (events/s) | ours / bare |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {r['events']:,.0f} | {r['ours']:,.0f} | {r['bare']:,.0f} "
            f"| {r['ratio']:.2f} |"
            for name, r in throughput.items()
        ),
        "",
        "Targets: at least 0.8x bare and 20,000 events/s: "
        + (
            "met."
            if all(r["ratio"] >= 0.8 and r["ours"] >= 20_000 for r in throughput.values())
            else "NOT met."
        ),
        "",
        "## Call quality: CPU per call",
        "",
        *quality,
    ]
    write(REPORT, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
