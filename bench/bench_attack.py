"""SIP attacks against the real supervisor and Asterisk 22 in the lab, from attacker hosts in
their own namespaces (documentation prefixes only), with a registered phone that must never be
banned and doorbell calls that must all be answered during every attack.

    python -m bench.bench_attack [--sources 10000] [--seconds 60] [--flood-seconds 10]  # root
    python -m bench.bench_attack --short     # the CI version (tests/bench/test_bench_attack.py)

- forged: the scanner sends with the phone's own address (and a neighbour in its /64): REGISTER
  and OPTIONS for unknown users, a REGISTER with a made-up nonce, INVITEs from unknown users;
  then the real phone registers again;
- rotation: one attacker with a /48 guesses the desk password, 4 attempts per /64, moving to the
  next /64 (and /56) as soon as one is refused; password tests that Asterisk answered (a 401
  after the digest) are counted, per attacker prefix, over the run;
- many sources: `--sources` sources (each in its own /48, so no escalation helps) fail 5 times
  each, spread over `--seconds`; time to ban from the 5th failure sent to the first refused
  request, probed for a sample, and the supervisor's own histogram for all; reloads, evictions;
- floods for `--flood-seconds` each, as fast as one sender thread goes: requests naming a real
  account with no credentials from one source; malformed packets from many sources.
During each phase /healthz is polled every 20 ms from the pod's namespace and the doorbell
places calls one after the other. Figures go to bench/reports/attack.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import LoadSampler, header, percentile, quantile_text, write
from lab import netns, sipp, sipprobe
from lab.asterisk import RunDir, wait_until
from lab.netns import Lab
from lab.paths import REPO
from lab.rootfs import ensure_rootfs
from lab.supervisor import SupervisorRun, read_dir
from supervisor.process.gcwatch import PAUSE_BUCKETS

REPORT = Path(__file__).resolve().parent / "reports" / "attack.md"
EXAMPLE = REPO / "examples" / "home"
PHONE_V6 = "2001:db8:f0e::21"  # the desk phone, on a network of its own (provider namespace)
NEIGHBOUR_V6 = "2001:db8:f0e::66"  # a forger's address in the phone's /64
ROTATION = ipaddress.ip_network("2001:db8:ba48::/48")  # the rotating attacker's prefix
MANY = ipaddress.ip_network("2001:db8:c000::/34")  # one /48 per source of the many
FLOOD = ipaddress.ip_network("2001:db8:f200::/40")  # malformed packets' sources
VALID_NAME = "2001:db8:f1::1"  # the valid-name flooder
FLOOD_POOL = 1000  # malformed packets come from this many /64s of FLOOD
RELOADS, PJSIP = "asterisk_supervisor_reloads_total", {"module": "res_pjsip.so"}
PAUSES = "asterisk_supervisor_gc_pause_seconds"
TRIMS = "asterisk_supervisor_heap_trim_seconds"
PAUSE_BOUNDS = tuple(f"{b}" for b in PAUSE_BUCKETS)
ACL = {"module": "acl"}  # the named ACL's reloads: the ban list's own path (render/acl.py)
UNANSWERED, DESK = "asterisk_supervisor_unanswered_challenges_total", {"endpoint": "desk"}


@dataclass
class Phase:
    """What one attack phase measured around it: /healthz latencies and the calls."""

    name: str
    health_ms: list[float] = field(default_factory=list)
    health_failed: int = 0
    calls_placed: int = 0
    calls_answered: int = 0
    figures: dict[str, str] = field(default_factory=dict)
    pauses: dict[str, str] = field(default_factory=dict)  # what the supervisor's own timing says


class Bench:
    def __init__(self, lab: Lab, run: RunDir, sup: SupervisorRun, desk_password: str) -> None:
        self.lab, self.run, self.sup, self.desk_password = lab, run, sup, desk_password
        self.phases: list[Phase] = []

    # -- the lab around the attacks --------------------------------------------------------------

    def addresses(self, prefix: ipaddress.IPv6Network, addresses: list[str]) -> None:
        """Give the scanner these addresses (one `ip -batch`) and route `prefix` to it. (An
        AnyIP local route would save the addresses, but UDP sent from one never left the
        namespace in this lab.)"""
        batch = self.run.host / f"addresses-{prefix.network_address}.batch"
        batch.write_text("".join(f"address add {a}/128 dev eth0 nodad\n" for a in addresses))
        self.lab.run("scanner", ["ip", "-force", "-batch", str(batch)])
        self.lab.run(
            "router",
            ["ip", "-6", "route", "replace", str(prefix), "via", netns.SCANNER_V6, "dev", "scan0"],
        )

    def phone_register(self) -> int | None:
        """The real phone registers from its own address; the final status (200 expected)."""
        answers = sipprobe.register_in(
            self.lab, "provider", PHONE_V6, netns.POD_V6, "desk", self.desk_password, timeout=2.0
        )
        return answers[-1].status if answers[-1] is not None else None

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.sup.metric(name, labels) or 0.0

    def answered(self) -> float:
        return self.metric("asterisk_supervisor_calls_total", {"outcome": "answered"})

    def pause_counts(self) -> dict[str, dict[str, float]]:
        """The supervisor's pause histograms (process/gcwatch.py) from one scrape (collections
        happen between scrapes, a scrape's own included): for each series (collections by
        generation, the heap trims), the count under each bucket bound and the sum."""
        from prometheus_client.parser import text_string_to_metric_families

        text = self.sup.get("/metrics")[1]
        out: dict[str, dict[str, float]] = {f"gc {g}": {} for g in ("0", "1", "2")}
        out["heap trim"] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith(PAUSES):
                    series = out[f"gc {sample.labels.get('generation')}"]
                elif sample.name.startswith(TRIMS):
                    series = out["heap trim"]
                else:
                    continue
                if sample.name.endswith("_bucket"):
                    series[sample.labels["le"]] = float(sample.value)
                elif sample.name.endswith("_sum"):
                    series["sum"] = float(sample.value)
        for series in out.values():
            for key in (*PAUSE_BOUNDS, "+Inf", "sum"):
                series.setdefault(key, 0.0)
        return out

    @staticmethod
    def pause_figures(
        before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
    ) -> dict[str, str]:
        """Per series: how many in the phase, their total, and the bound of the longest."""
        figures = {}
        for name, counts in after.items():
            delta = {k: v - before[name][k] for k, v in counts.items()}
            n = delta["+Inf"]
            longest = next((le for le in (*PAUSE_BOUNDS, "+Inf") if delta[le] == n), "+Inf")
            bound = float(longest) * 1000
            total = delta["sum"] * 1000
            figures[name] = (
                f"{n:.0f}, {total:.0f} ms in all, longest <= {bound:g} ms" if n else "none"
            )
        return figures

    @contextmanager
    def phase(self, name: str, calls: int) -> Iterator[Phase]:
        """/healthz polled every 20 ms and `calls` doorbell calls, around the attack."""
        result = Phase(name)
        stop = threading.Event()
        url = f"http://127.0.0.1:{self.sup.port}/healthz"

        def poll() -> None:
            with netns.entered(self.lab.pod):
                while not stop.is_set():
                    start = time.monotonic()
                    try:
                        with urllib.request.urlopen(url, timeout=5) as resp:
                            resp.read()
                        result.health_ms.append((time.monotonic() - start) * 1000)
                    except OSError:
                        result.health_failed += 1
                    stop.wait(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        before = self.answered()
        pauses0 = self.pause_counts()
        call = sipp.call(
            self.lab,
            self.run,
            "doorbell",
            netns.DOORBELL_V4,
            f"{netns.POD_V4}:5060",
            "100",
            calls=calls,
            hold_ms=300,
            name=f"doorbell-{name.replace(' ', '-')}",
        )
        poller.start()
        try:
            yield result
        finally:
            try:
                call.wait(60 + calls * 5)
            finally:
                call.stop()
                stop.set()
                poller.join(10)
        result.calls_placed = calls
        wait_until(lambda: self.answered() - before >= calls, 10, interval=0.2, what="")
        result.calls_answered = round(self.answered() - before)
        result.pauses = self.pause_figures(pauses0, self.pause_counts())
        self.phases.append(result)

    # -- attacks ---------------------------------------------------------------------------------

    def forged(self) -> dict[str, str]:
        """Forged requests with the phone's address and a /64 neighbour's; the phone after."""
        self.lab.add_address("scanner", f"{PHONE_V6}/128")
        self.lab.add_address("scanner", f"{NEIGHBOUR_V6}/128")
        unproven0 = self.metric("asterisk_supervisor_unproven_failures_total")
        fake = (
            'Authorization: Digest username="desk", realm="asterisk", '
            'nonce="1733000000/0123456789abcdef0123456789abcdef", uri="sip:x", '
            'response="0123456789abcdef0123456789abcdef", algorithm=MD5\r\n'
        )

        def send() -> None:
            for source in (PHONE_V6, NEIGHBOUR_V6):
                probe = sipprobe.Probe(source, netns.POD_V6)
                try:
                    for i in range(20):
                        for method, user, extra in (
                            ("REGISTER", f"nosuch{i}", ""),
                            ("OPTIONS", f"nosuch{i}", ""),
                            ("REGISTER", "desk", fake),
                            ("INVITE", f"nosuch{i}", ""),
                        ):
                            # The forger never sees the answer (it goes to the real phone):
                            # send only.
                            probe.request(
                                method,
                                user,
                                cseq=1,
                                call_id=os.urandom(6).hex(),
                                extra=extra,
                                timeout=0.001,
                            )
                finally:
                    probe.close()

        netns.call_in(self.lab.scanner, send)
        self.lab.del_address("scanner", f"{PHONE_V6}/128")
        self.lab.del_address("scanner", f"{NEIGHBOUR_V6}/128")
        time.sleep(1.0)  # the events, the ban and its reload
        status = self.phone_register()
        unproven = self.metric("asterisk_supervisor_unproven_failures_total") - unproven0
        blocked = {b["source"] for b in self.sup.status()["security"]["blocked"]}
        phone_banned = status != 200 or any(
            ipaddress.ip_address(PHONE_V6) in ipaddress.ip_network(b) for b in blocked
        )
        return {
            "forged requests sent (phone's address / neighbour's)": "80 / 80",
            "phone's REGISTER afterwards": str(status),
            "phone banned": "yes" if phone_banned else "no",
            "neighbour banned by its own address": "yes"
            if f"{NEIGHBOUR_V6}/128" in blocked
            else "no",
            "unproven failures counted (never ban)": f"{unproven:.0f}",
        }

    def rotation(self, seconds: float) -> dict[str, str]:
        """Wrong desk passwords from ROTATION, 4 per /64; when refused, the next /64, and the
        next /56 when a /64's first attempt is refused (its /56 is banned)."""
        base = int(ROTATION.network_address)
        plan = [
            [str(ipaddress.ip_address(base + (k << 72) + (j << 64) + n + 1)) for n in range(4)]
            for k in range(64)
            for j in range(16)
        ]
        self.addresses(ROTATION, [a for group in plan for a in group])
        tests: list[float] = []
        refused = 0
        start = time.monotonic()

        def attack() -> None:
            nonlocal refused
            i = 0
            while time.monotonic() - start < seconds and i < len(plan):
                for n, address in enumerate(plan[i]):
                    probe = sipprobe.Probe(address, netns.POD_V6)
                    try:
                        answers = probe.register("desk", "guess", timeout=0.5)
                    finally:
                        probe.close()
                    if len(answers) == 2 and answers[1] is not None and answers[1].status == 401:
                        tests.append(time.monotonic() - start)
                        continue
                    refused += 1
                    if n == 0:  # the whole /56 is refused: its next /56
                        i = (i // 16 + 1) * 16 - 1
                    break
                i += 1

        netns.call_in(self.lab.scanner, attack)
        elapsed = time.monotonic() - start
        refused_48 = self._refused(plan[-1][0])
        return {
            "run": f"{elapsed:.0f} s",
            "password tests answered (a 401 after the digest)": str(len(tests)),
            "last test answered at": f"{max(tests):.1f} s" if tests else "-",
            "attempts refused (403)": str(refused),
            "the /48 refused (its last /64, never used, probed)": "yes" if refused_48 else "no",
            "password tests per /48 per hour (the run is shorter than the ban: all of them)": str(
                len(tests)
            ),
        }

    def _refused(self, source: str, within: float = 30.0) -> bool:
        """Whether Asterisk refuses `source` within `within` s (a ban still being applied)."""

        def probe() -> bool:
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                if self._options_status(source, 0.5) == 403:
                    return True
                time.sleep(0.2)
            return False

        return netns.call_in(self.lab.scanner, probe)

    def many(self, sources: int, seconds: float, sample_every: int) -> dict[str, str]:
        """`sources` sources (one per /48 of MANY), 5 unknown-user REGISTERs each, paced over
        `seconds`; every `sample_every`-th probed until refused."""
        base = int(MANY.network_address)
        self.addresses(
            MANY, [str(ipaddress.ip_address(base + (i << 80) + 1)) for i in range(sources)]
        )
        reloads0, acl0 = self.metric(RELOADS, PJSIP), self.metric(RELOADS, ACL)
        buckets0 = self._buckets()
        blocks0 = self.metric("asterisk_supervisor_blocks_total")
        latencies: list[float] = []
        pending: list[tuple[str, float]] = []
        lock = threading.Lock()
        done = threading.Event()
        start = time.monotonic()

        def sender() -> None:
            for i in range(sources):
                due = start + seconds * i / sources
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                source = str(ipaddress.ip_address(base + (i << 80) + 1))
                sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                try:
                    sock.bind((source, 0))
                    port = sock.getsockname()[1]
                    for n in range(5):
                        sock.sendto(_register(source, port, f"u{i}", n), (netns.POD_V6, 5060))
                finally:
                    sock.close()
                if i % sample_every == 0:
                    with lock:
                        pending.append((source, time.monotonic()))
            done.set()

        def prober() -> None:
            while not done.is_set() or pending:
                with lock:
                    batch = list(pending)
                for source, sent in batch:
                    if self._options_status(source, 0.02) == 403:
                        latencies.append(time.monotonic() - sent)
                        with lock:
                            pending.remove((source, sent))
                    elif time.monotonic() - sent > 30:
                        with lock:
                            pending.remove((source, sent))
                        latencies.append(float("inf"))
                time.sleep(0.005)

        threads = [
            threading.Thread(target=netns.call_in, args=(self.lab.scanner, fn), daemon=True)
            for fn in (sender, prober)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 120)
        elapsed = time.monotonic() - start
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # reported as found, not waited for for ever
            if self.metric("asterisk_supervisor_blocks_total") - blocks0 >= sources:
                break
            time.sleep(0.5)
        time.sleep(2)
        buckets = {k: v - buckets0.get(k, 0.0) for k, v in self._buckets().items()}
        total = buckets.get("+Inf", 0.0)
        within_1s = buckets.get("1.0", 0.0)
        ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
        per_minute = sources * 60 / elapsed
        p99 = quantile_text([v * 1000 for v in latencies], 0.99, "{:.0f}", " ms")
        return {
            "sources / sending time": f"{sources} / {elapsed:.0f} s ({per_minute:.0f} per minute)",
            "sources banned": f"{self.metric('asterisk_supervisor_blocks_total') - blocks0:.0f}",
            "time to ban, probed sample (5th failure sent -> refused) p50 / p99 / max": (
                f"{ms(percentile(latencies, 0.5))} / {p99}"
                f" / {ms(max(latencies))} (n={len(latencies)})"
                if latencies
                else "-"
            ),
            "supervisor histogram (failure event -> ACL reloaded): within 1 s": (
                f"{within_1s:.0f} of {total:.0f} ({100 * within_1s / total:.2f} %)"
                if total
                else "-"
            ),
            "ban list reloads (module acl) / res_pjsip reloads": (
                f"{self.metric(RELOADS, ACL) - acl0:.0f} / "
                f"{self.metric(RELOADS, PJSIP) - reloads0:.0f}"
            ),
            "bans evicted": f"{self.metric('asterisk_supervisor_ban_evictions_total'):.0f}",
            "bans now": f"{self.metric('asterisk_supervisor_blocked_sources'):.0f}",
        }

    def _buckets(self) -> dict[str, float]:
        text = self.sup.get("/metrics")[1]
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("asterisk_supervisor_block_latency_seconds_bucket{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                out[le] = float(line.rsplit(" ", 1)[1])
        return out

    def _options_status(self, source: str, timeout: float) -> int | None:
        probe = sipprobe.Probe(source, netns.POD_V6)
        try:
            answer = probe.request(
                "OPTIONS", "probe", cseq=1, call_id=os.urandom(4).hex(), timeout=timeout
            )
        finally:
            probe.close()
        return answer.status if answer is not None else None

    def flood(self, kind: str, seconds: float) -> dict[str, str]:
        """As fast as one thread sends: OPTIONS/INVITE naming `desk` without credentials from
        one source, or malformed packets from random FLOOD sources."""
        pool = [str(FLOOD.network_address + (i << 64) + 1) for i in range(FLOOD_POOL)]
        if kind == "malformed":
            self.addresses(FLOOD, pool)
        if kind == "valid-name":
            self.lab.add_address("scanner", f"{VALID_NAME}/128")
            self.lab.run(
                "router", ["ip", "-6", "route", "replace", f"{VALID_NAME}/128", "dev", "scan0"]
            )
        unanswered0 = self.metric(UNANSWERED, DESK)
        dropped0 = self.metric("asterisk_supervisor_asterisk_log_lines_dropped_total")
        sent = 0

        def send() -> None:
            nonlocal sent
            rng = os.urandom
            socks: dict[str, socket.socket] = {}
            start = time.monotonic()
            try:
                while time.monotonic() - start < seconds:
                    if kind == "valid-name":
                        source = VALID_NAME
                        method = "INVITE" if sent % 2 else "OPTIONS"
                        packet = _request(method, source, 5070, "desk", sent)
                    else:
                        source = pool[sent % FLOOD_POOL]
                        packet = (
                            b"REGISTER sip:x SIP/2.0\r\nVia: \x1b[31m"
                            + rng(24).hex().encode()
                            + b"\r\n\r\n"
                        )
                    sock = socks.get(source)
                    if sock is None:
                        if len(socks) > 256:
                            socks.pop(next(iter(socks))).close()
                        sock = socks[source] = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                        sock.bind((source, 5070 if kind == "valid-name" else 0))
                    sock.sendto(packet, (netns.POD_V6, 5060))
                    sent += 1
            finally:
                for s in socks.values():
                    s.close()

        start = time.monotonic()
        netns.call_in(self.lab.scanner, send)
        elapsed = time.monotonic() - start
        time.sleep(1.0)
        out = {"packets sent": f"{sent} in {elapsed:.0f} s ({sent / elapsed:.0f}/s)"}
        if kind == "valid-name":
            out["unanswered-challenge batches counted (endpoint desk)"] = (
                f"{self.metric(UNANSWERED, DESK) - unanswered0:.0f}"
            )
            out["the flooder banned"] = "yes" if self._refused(VALID_NAME) else "no"
        out["Asterisk log lines not relayed (rate limit)"] = (
            f"{self.metric('asterisk_supervisor_asterisk_log_lines_dropped_total') - dropped0:.0f}"
        )
        return out


def _request(method: str, source: str, port: int, user: str, n: int) -> bytes:
    # A unique branch each: pjsip keys a transaction by branch and method alone, so a repeated
    # branch (even from another source) is absorbed as a retransmission.
    unique = os.urandom(8).hex()
    return (
        f"{method} sip:{user}@[{netns.POD_V6}] SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP [{source}]:{port};branch=z9hG4bK{unique};rport\r\n"
        f"From: <sip:{user}@[{netns.POD_V6}]>;tag={n:x}\r\n"
        f"To: <sip:{user}@[{netns.POD_V6}]>\r\n"
        f"Call-ID: {unique}\r\nCSeq: 1 {method}\r\n"
        f"Contact: <sip:{user}@[{source}]:{port}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _register(source: str, port: int, user: str, n: int) -> bytes:
    return _request("REGISTER", source, port, user, n)


def run_bench(args: argparse.Namespace, load: LoadSampler) -> list[str]:
    rootfs = ensure_rootfs()
    lab = Lab().up()
    run = RunDir(rootfs, f"{lab.prefix}-run").create()
    sup: SupervisorRun | None = None
    registrar = None
    try:
        secrets = {k: v.strip() for k, v in read_dir(EXAMPLE / "secrets").items()}
        registrar = sipp.registrar(
            lab, run, netns.PROVIDER_V6, "pod1", secrets["provider-password"]
        )
        files = read_dir(EXAMPLE / "site")
        files["site.yaml"] = files["site.yaml"].replace(
            "    context: doorbell\n", "    context: answer-test\n"
        ) + (
            "raw:\n  extensions.conf: |\n    [answer-test]\n    exten => _X.,1,Answer()\n"
            "     same => n,Wait(0.2)\n     same => n,Hangup()\n"
        )
        sup = SupervisorRun(lab, run, files, secrets).start()
        sup.wait_ready(60)
        assert sup.process is not None
        print(f"supervisor pid {sup.process.pid}", file=sys.stderr, flush=True)
        lab.add_address("provider", f"{PHONE_V6}/128")
        lab.run("router", ["ip", "-6", "route", "replace", f"{PHONE_V6}/128", "dev", "prov0"])
        bench = Bench(lab, run, sup, secrets["desk-password"])
        registered = bench.phone_register()
        if registered != 200:
            raise RuntimeError(f"the phone did not register: {registered}")
        sections: list[tuple[str, dict[str, str]]] = []
        with bench.phase("forged", args.calls) as p:
            p.figures = bench.forged()
        with bench.phase("rotation", args.calls) as p:
            p.figures = bench.rotation(args.rotation_seconds)
        with bench.phase("many sources", args.calls) as p:
            p.figures = bench.many(args.sources, args.seconds, args.sample_every)
        with bench.phase("valid-name flood", args.calls) as p:
            p.figures = bench.flood("valid-name", args.flood_seconds)
        with bench.phase("malformed flood", args.calls) as p:
            p.figures = bench.flood("malformed", args.flood_seconds)
        final = bench.phone_register()
        sections = [(p.name, p.figures) for p in bench.phases]
        phases = bench.phases
    finally:
        if sup is not None:
            sup.stop()
        if registrar is not None:
            registrar.stop()
        run.remove()
        lab.down()
    lines = [
        *header(
            "SIP attacks: forged sources, rotation, many sources, floods",
            load.summary(),
            report=REPORT,
        ),
        "Real supervisor process and Asterisk 22 in the lab (examples/home, default security "
        "settings: 5 failures in 600 s, 3600 s bans, escalation on); attackers in the scanner "
        "namespace; the desk phone registered over UDP from its own network; the doorbell "
        "calling during every phase.",
        "",
        "| phase | /healthz p50 | /healthz p99 | /healthz max | /healthz failed | calls answered |",
        "|---|---|---|---|---|---|",
    ]
    for p in phases:
        h = p.health_ms
        lines.append(
            f"| {p.name} | {percentile(h, 0.5):.1f} ms | {quantile_text(h, 0.99, '{:.1f}', ' ms')} "
            f"| {max(h):.1f} ms | {p.health_failed} | {p.calls_answered} of {p.calls_placed} |"
        )
    lines += [
        "",
        "The supervisor's own pauses in each phase (`asterisk_supervisor_gc_pause_seconds` by "
        "generation, `asterisk_supervisor_heap_trim_seconds`; longest: the histogram's bound):",
        "",
        "| phase | gc generation 0 | gc generation 1 | gc generation 2 (full) | heap trim |",
        "|---|---|---|---|---|",
    ]
    for p in phases:
        cells = [p.pauses.get(k, "n/a") for k in ("gc 0", "gc 1", "gc 2", "heap trim")]
        lines.append(f"| {p.name} | " + " | ".join(cells) + " |")
    for name, figures in sections:
        lines += ["", f"## {name}", "", "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in figures.items()]
    lines += ["", f"The phone's REGISTER after all phases: {final}.", ""]
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sample-every", type=int, default=50)
    parser.add_argument("--rotation-seconds", type=float, default=30.0)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--short", action="store_true", help="the CI version: small numbers")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    if args.short:
        args.sources, args.seconds, args.sample_every = 300, 6.0, 10
        args.rotation_seconds, args.flood_seconds, args.calls = 8.0, 3.0, 2
    with LoadSampler() as load:
        lines = run_bench(args, load)
    write(args.report, "\n".join(lines))
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
