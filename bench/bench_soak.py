"""Soak: many calls through the real supervisor and Asterisk while faults are injected.

    python -m bench.bench_soak [--calls 31200] [--rate 20] [--report bench/reports/soak-long.md]
    python -m bench.bench_soak --short            the CI version (tests/bench/test_soak.py)

The lab pod runs the supervisor (entrypoint mode, examples/home extended with three test phones,
three DIDs and a `soak` dialplan for the doorbell). Twelve sipp callers place a mix of calls, each
stream one (direction, outcome): internal (doorbell → phones), outbound (doorbell → trunk → the
provider's far ends) and inbound (provider → DIDs → phones); answered, busy, no answer and
cancelled by the caller. Traffic runs in segments; a segment ends when every caller has finished
and the supervisor shows no active call, so sipp's own statistics for the segment can be set
against the supervisor's `asterisk_supervisor_calls_total` delta, per (direction, outcome).

All the while the site ConfigMap is swapped (kubelet-style) every `swap_every_s`, alternating a
valid change and an invalid site. Four segments carry one fault each, injected a third of the way
in: an AMI cut (the AMI port REJECTed with TCP resets for a few seconds), `kill -9` of Asterisk,
a freeze (SIGSTOP, left to the hang watchdog) and a flap of the pod's IPv4 address. Outside those
segments the counts must match exactly; inside, each difference is explained in the report.

Sampled throughout: the supervisor's RSS and open fds (slope by least squares), its CPU time per
call, `/metrics` latency, and the two liveness doors the hang watchdog uses (AMI Ping round trip
over a second session of the supervisor's AMI user, and `asterisk -rx "core show uptime"`): the
hang-timeout default is justified by how slow they get under this load.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import re
import socket
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.report import LoadSampler, LoadSummary, header, quantile_text, write
from lab import netns, proc, sipp
from lab.asterisk import Asterisk, RunDir, wait_until
from lab.kubelet import write_mount
from lab.netns import DOORBELL_V4, POD_V4, POD_V6, PROVIDER_V6, Lab
from lab.paths import REPO, SCENARIOS
from lab.phones import PHONES_V6
from lab.prometheus import http_get
from lab.rootfs import ensure_rootfs
from lab.supervisor import SupervisorRun, read_dir
from supervisor.process.hang import DEFAULT_HANG_TIMEOUT_S
from supervisor.records.schema import RELATIVE_PATH

REPORT = Path(__file__).resolve().parent / "reports" / "soak-long.md"
EXAMPLE = REPO / "examples" / "home"
TICKS = os.sysconf("SC_CLK_TCK")
TRUNK = "provider"
Key = tuple[str, str, str]  # (direction, trunk, outcome), as calls_total labels them

# Phones (registered, contacts on sipp UASes in the provider namespace) and the provider's far
# ends: name -> (address, port, scenario, pause ms before answering).
PHONE_UAS = {
    "answerer": (PHONES_V6, 5081, "uas_answer.xml", 300),
    "busyphone": (PHONES_V6, 5082, "uas_busy.xml", 0),
    "ringer": (PHONES_V6, 5083, "uas_ring.xml", 0),
}
FAR_ENDS = {
    "answer": (PROVIDER_V6, 5070, "uas_answer.xml", 300),
    "busy": (PROVIDER_V6, 5071, "uas_busy.xml", 0),
    "ring": (PROVIDER_V6, 5072, "uas_ring.xml", 0),
}
DIDS = {"+4930123460": "answerer", "+4930123461": "busyphone", "+4930123462": "ringer"}

SOAK_DIALPLAN = f"""[soak]
exten => 100,1,Dial(PJSIP/answerer,10)
exten => 101,1,Dial(PJSIP/busyphone,10)
exten => 102,1,Dial(PJSIP/ringer,2)
exten => 103,1,Dial(PJSIP/ringer,30)
exten => 200,1,Dial(PJSIP/provider/sip:200@[{PROVIDER_V6}]:5070,10)
exten => 201,1,Dial(PJSIP/provider/sip:201@[{PROVIDER_V6}]:5071,10)
exten => 202,1,Dial(PJSIP/provider/sip:202@[{PROVIDER_V6}]:5072,2)
exten => 203,1,Dial(PJSIP/provider/sip:203@[{PROVIDER_V6}]:5072,30)
"""


@dataclass(frozen=True)
class Stream:
    """One sipp caller: a (direction, outcome) at `weight` of the total rate."""

    name: str
    key: Key
    source: str  # "doorbell" (IPv4) or "provider" (IPv6)
    service: str
    weight: float
    cancel: bool = False


STREAMS = (
    Stream("int-answered", ("internal", "", "answered"), "doorbell", "100", 3.0),
    Stream("int-busy", ("internal", "", "busy"), "doorbell", "101", 1.2),
    Stream("int-noanswer", ("internal", "", "no_answer"), "doorbell", "102", 1.2),
    Stream("int-cancel", ("internal", "", "cancelled"), "doorbell", "103", 1.2, cancel=True),
    Stream("out-answered", ("outbound", TRUNK, "answered"), "doorbell", "200", 3.0),
    Stream("out-busy", ("outbound", TRUNK, "busy"), "doorbell", "201", 1.2),
    Stream("out-noanswer", ("outbound", TRUNK, "no_answer"), "doorbell", "202", 1.2),
    Stream("out-cancel", ("outbound", TRUNK, "cancelled"), "doorbell", "203", 1.2, cancel=True),
    Stream("in-answered", ("inbound", TRUNK, "answered"), "provider", "+4930123460", 3.0),
    Stream("in-busy", ("inbound", TRUNK, "busy"), "provider", "+4930123461", 1.2),
    Stream("in-noanswer", ("inbound", TRUNK, "no_answer"), "provider", "+4930123462", 1.2),
    Stream(
        "in-cancel", ("inbound", TRUNK, "cancelled"), "provider", "+4930123462", 1.2, cancel=True
    ),
)
FAULTS = ("ami-cut", "kill-9", "freeze", "address-flap")
#: Sidecar mode (Asterisk is another container's, restarted by its own restart policy, here the
#: soak): the supervisor itself restarts while Asterisk runs on. No freeze: the hang watchdog
#: restarts only an Asterisk of its own.
SIDECAR_FAULTS = ("ami-cut", "supervisor-restart", "kill-9")
QUARTERS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: The supervisor remembers 10,000 ended calls (and as many channels) against late or replayed
#: events (supervisor/ami/calls.py): until the soak has placed as many calls its memory grows by
#: design. Once it is full the heap still settles until every remembered entry has been replaced
#: once (the allocator's free space then holds the steady mix of lifetimes): in the soak of
#: 2026-12-06 (soak-long.notes.md) RSS rose for ~2,000 calls past 10,000 and then stayed within
#: +8 KB/min. The warm-up is therefore two turnovers' worth, and RSS must be flat after it.
WARMUP_CALLS = 20_000


@dataclass(frozen=True, kw_only=True)
class Plan:
    calls: int  # total calls to place (rounded to whole segments)
    rate: float = 20.0  # calls per second, all streams together
    segment_s: float = 30.0  # traffic per segment
    hold_ms: int = 6000  # answered calls' talk time
    hang_timeout_s: float = DEFAULT_HANG_TIMEOUT_S  # the product's default: real detect times
    swap_every_s: float = 30.0
    fault_at: float = 1 / 3  # where in its segment a fault is injected
    ami_cut_s: float = 5.0
    flap_s: float = 3.0
    recv_timeout_s: float = 20.0  # sipp gives up on a call (e.g. sent to a frozen Asterisk)
    faults: tuple[str, ...] = FAULTS
    sidecar: bool = False  # --mode sidecar: the soak runs Asterisk as "the other container"
    # The supervisor's interpreter arguments before `run` (bench.bench_memory: its memory probe).
    launcher: tuple[str, ...] = ("-m", "supervisor")

    @property
    def segments(self) -> int:
        per_segment = self.rate * self.segment_s
        return max(len(self.faults) + 2, round(self.calls / per_segment))

    def fault_segments(self) -> dict[int, str]:
        """Faults spread over the run, each in its own segment, never the first or last."""
        slots = self.segments - 2
        return {1 + i * slots // len(self.faults): f for i, f in enumerate(self.faults)}


# Warm-up plus more than 20,000 calls after it: the span over which RSS must be flat.
FULL = Plan(calls=42_000)
SHORT = Plan(
    calls=300,
    segment_s=3.0,
    hold_ms=1500,
    hang_timeout_s=3.0,
    swap_every_s=5.0,
    ami_cut_s=2.0,
    flap_s=2.0,
    recv_timeout_s=8.0,
)
SIDECAR_SHORT = Plan(
    calls=300,
    segment_s=3.0,
    hold_ms=1500,
    swap_every_s=5.0,
    ami_cut_s=2.0,
    recv_timeout_s=8.0,
    faults=SIDECAR_FAULTS,
    sidecar=True,
)


# ---- the lab -----------------------------------------------------------------------------------


def soak_site() -> tuple[dict[str, str], dict[str, str]]:
    """examples/home plus three phones, three DIDs and the doorbell's `soak` dialplan."""
    site = yaml.safe_load((EXAMPLE / "site" / "site.yaml").read_text())
    secrets = read_dir(EXAMPLE / "secrets")
    for phone in PHONE_UAS:
        # No qualify: the phones' UASes play one scenario and would take OPTIONS as a failed call.
        site["endpoints"][phone] = {"auth": {"password_secret": f"{phone}-password"}, "qualify": 0}
        secrets[f"{phone}-password"] = f"soak-{phone}-{os.getpid()}\n"
    site["endpoints"]["doorbell"]["context"] = "soak"
    site["trunks"][TRUNK]["dids"] += list(DIDS)
    site["dialplan"]["inbound"].update(DIDS)
    site["dialplan"]["ring_time"] = 5  # inbound no-answer: the model's minimum
    site["raw"] = {"extensions.conf": SOAK_DIALPLAN}
    return {"site.yaml": yaml.safe_dump(site, sort_keys=False)}, secrets


def swapped_site(base: Mapping[str, str], n: int) -> dict[str, str]:
    """Swap n: odd ones invalid (an unknown key, line 1), even ones a valid harmless change."""
    text = base["site.yaml"]
    if n % 2:
        return {"site.yaml": "bogus_key: 1\n" + text}
    return {"site.yaml": text.replace("name: Home", f"name: Home {n // 2 % 2}", 1)}


class SoakLab:
    """Namespaces, provider, phones, far ends and the supervisor; `close()` tears it all down."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.stoppers: list[Callable[[], object]] = []
        netns.sweep_stale()
        rootfs = ensure_rootfs()
        self.lab = Lab()
        self.lab.up()
        self.stoppers.append(self.lab.down)
        self.run = RunDir(rootfs, f"{self.lab.prefix}-soak").create()
        self.stoppers.append(self.run.remove)
        sipp.install_scenarios(self.run)
        self.site, self.secrets = soak_site()
        registrar = sipp.registrar(
            self.lab, self.run, PROVIDER_V6, "pod1", self.secrets["provider-password"].strip()
        )
        self.stoppers.append(registrar.stop)
        self.lab.add_address("provider", f"{PHONES_V6}/128")
        self.lab.run("router", ["ip", "-6", "route", "replace", f"{PHONES_V6}/128", "dev", "prov0"])
        for name, spec in {**PHONE_UAS, **FAR_ENDS}.items():
            self._uas(name, *spec)
        args = ["--hang-timeout", f"{plan.hang_timeout_s:g}"]
        if plan.sidecar:
            args += ["--mode", "sidecar"]
        self.sup = SupervisorRun(
            self.lab, self.run, self.site, self.secrets, args, launcher=list(plan.launcher)
        )
        self.stoppers.append(lambda: self.sup.stop())
        self.sup.start()
        #: Sidecar mode: the Asterisk "container" on the shared volume, started (and restarted
        #: after kill -9) by the soak.
        self.asterisk: Asterisk | None = None
        if plan.sidecar:
            rendered = self.run.path("etc") / "pjsip.conf"
            wait_until(rendered.exists, 30, what="the sidecar's rendered config")
            self.start_asterisk()
        self.sup.wait_ready(60)
        self._register_phones()
        self.segment = 0
        #: The site mounted now, and the lock every publisher (the swapper, the restart fault)
        #: holds: a supervisor restart must start on the content it chose.
        self.mounted: dict[str, str] = dict(self.site)
        self.mount_lock = threading.Lock()
        self.swaps = 0  # the swapper's count: odd while its last site is the invalid one
        #: Counts and CPU seconds of supervisor processes that ended (a restart): a counter
        #: restarts at zero with its process, Prometheus' increase() adds both sides.
        self.carried: dict[Key, float] = {}
        self.cpu_carried = 0.0

    def publish(self, files: Mapping[str, str]) -> None:
        """A kubelet-style swap of the site ConfigMap (the caller holds `mount_lock`)."""
        write_mount(self.sup.config_mount, dict(files))
        self.mounted = dict(files)

    def start_asterisk(self) -> None:
        asterisk = Asterisk(self.lab, self.run).start()
        self.stoppers.append(asterisk.stop)
        self.asterisk = asterisk

    def restart_supervisor(self) -> None:
        """Sidecar mode: kill -9 the supervisor while Asterisk runs on, start a new one on the
        mounts as they are and the same HTTP port. Its final counts are read while the test
        holds the record's write lock, so that no fold commits between that scrape and the
        kill: the one count a restart loses by design (a commit after the last scrape,
        docs/records.md) is kept out of the comparison, the rest must add up."""
        old = self.sup
        assert old.process is not None
        with record_locked(self.run.path("spool") / RELATIVE_PATH):
            time.sleep(0.3)  # a pass that committed before the lock has counted by now
            for key, value in scrape(old)[0].items():
                self.carried[key] = self.carried.get(key, 0.0) + value
            self.cpu_carried += cpu_seconds(old.process.pid)
            old.process.kill()
            old.process.wait(10)
        self.sup = SupervisorRun(
            self.lab,
            self.run,
            self.site,
            self.secrets,
            list(old.extra_args),
            launcher=list(old.launcher),
            port=old.port,
            keep_mounts=True,
        )
        self.sup.start()

    def cpu_s(self) -> float:
        """CPU seconds of every supervisor process of the run."""
        assert self.sup.process is not None
        return self.cpu_carried + cpu_seconds(self.sup.process.pid)

    def _spawn(self, process: sipp.Sipp) -> sipp.Sipp:
        process.process = proc.spawn(process.argv(), process.log)
        self.stoppers.append(process.stop)
        return process

    def _uas(self, name: str, address: str, port: int, scenario: str, pause: int) -> None:
        uas = sipp.Sipp(self.lab, self.run, "provider", [], name=f"uas-{name}")
        uas.args = ["-sf", uas.scenario(scenario), "-i", address, "-p", str(port)]
        uas.args += ["-m", "10000000", "-d", str(pause), "-t", "u1"]
        self._spawn(uas)

    def _register_phones(self) -> None:
        template = (SCENARIOS / "phone-register.xml").read_text()
        for phone, (_, port, _, _) in PHONE_UAS.items():
            scenario = self.run.path("scenarios") / f"register-{port}.xml"
            scenario.write_text(template.replace("@CONTACT_PORT@", str(port)))
            reg = sipp.Sipp(self.lab, self.run, "provider", [], name=f"register-{phone}")
            reg.args = [f"[{POD_V6}]:5060", "-sf", self.run.inside(scenario), "-s", phone]
            reg.args += ["-au", phone, "-ap", self.secrets[f"{phone}-password"].strip()]
            reg.args += ["-i", PHONES_V6, "-p", "0", "-m", "1", "-timeout", "15s"]
            reg.args += ["-timeout_error"]
            self._spawn(reg)
            if reg.wait(25) != 0:
                raise RuntimeError(f"phone {phone} could not register:\n{reg.output()[-1500:]}")

    def caller(
        self, stream: Stream, calls: int, rate: float, hold_ms: int | None = None
    ) -> sipp.Sipp:
        """One stream's sipp for one segment, with its own statistics file (answered calls
        held `hold_ms`, the plan's by default)."""
        name = f"seg{self.segment}-{stream.name}"
        if stream.source == "doorbell":
            host, source, target = "doorbell", DOORBELL_V4, f"{POD_V4}:5060"
        else:
            host, source, target = "provider", PROVIDER_V6, f"[{POD_V6}]:5060"
        uac = sipp.Sipp(self.lab, self.run, host, [], name=name)
        scenario = "uac_cancel.xml" if stream.cancel else "uac_any.xml"
        stats = self.run.inside(self.run.path("log") / f"{name}.csv")
        uac.args = [target, "-sf", uac.scenario(scenario), "-s", stream.service, "-i", source]
        uac.args += ["-p", "0", "-m", str(calls), "-l", "500"]
        # sipp's rate is calls per -rp milliseconds: tenths of a call per second.
        uac.args += ["-r", str(max(1, round(rate * 10))), "-rp", "10000"]
        hold = self.plan.hold_ms if hold_ms is None else hold_ms
        uac.args += ["-d", str(500 if stream.cancel else hold)]
        uac.args += ["-recv_timeout", f"{self.plan.recv_timeout_s * 1000:.0f}"]
        uac.args += ["-timeout", f"{self.plan.segment_s + 90:.0f}s"]
        uac.args += ["-trace_stat", "-stf", stats, "-fd", "3600"]
        return self._spawn(uac)

    def stats(self, uac: sipp.Sipp) -> dict[str, int]:
        path = uac.log.with_suffix(".csv")
        try:
            rows = list(csv.reader(io.StringIO(path.read_text()), delimiter=";"))
        except OSError:
            return {}
        if len(rows) < 2:
            return {}
        header, last = rows[0], rows[-1]
        result = {}
        for name, value in zip(header, last, strict=False):
            if name.endswith("(C)") and value.strip().isdigit():
                result[name[:-3]] = int(value)
        return result

    def asterisk_pid(self) -> int | None:
        for pid in netns.pids_in(self.lab.pod):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(a.endswith(b"/asterisk") for a in argv) and b"-f" in argv:
                return pid
        return None

    def ami_credentials(self) -> tuple[str, str]:
        """The supervisor's AMI user and this boot's secret, from the rendered manager.conf."""
        text = (self.run.path("etc") / "manager.conf").read_text()
        user = re.findall(r"^\[([^\]]+)\]", text, re.M)[-1]
        secret = re.search(r"^secret = (\S+)", text, re.M)
        assert secret is not None
        return user, secret.group(1)

    def close(self) -> None:
        for stop in reversed(self.stoppers):
            with contextlib.suppress(Exception):
                stop()
        self.stoppers.clear()


# ---- measurement -------------------------------------------------------------------------------


def scrape(sup: SupervisorRun) -> tuple[dict[Key, float], dict[str, float]]:
    """calls_total by (direction, trunk, outcome), and the plain single-value series."""
    text = http_get(f"http://127.0.0.1:{sup.port}/metrics", sup.lab.pod, timeout=10).decode()
    calls: dict[Key, float] = {}
    single: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "asterisk_supervisor_calls_total":
                key = (s.labels["direction"], s.labels.get("trunk", ""), s.labels["outcome"])
                calls[key] = s.value
            elif not s.labels:
                single[s.name] = s.value
    return calls, single


def counts(soak: SoakLab) -> dict[Key, float]:
    """calls_total of every supervisor process of the run (ended ones' final counts added)."""
    now = scrape(soak.sup)[0]
    return {k: now.get(k, 0.0) + soak.carried.get(k, 0.0) for k in set(now) | set(soak.carried)}


@contextlib.contextmanager
def record_locked(path: Path) -> Iterator[None]:
    """SQLite's write lock on the call record (Asterisk's CEL writes and the recorder's folds
    wait for it: keep it short)."""
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")
    finally:
        db.close()


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) in value per minute."""
    if len(points) < 3:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def allocator_of(pid: int) -> str:
    """What Python objects of process `pid` are allocated with, from its environment."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    value = next((e[13:].decode() for e in environ if e.startswith(b"PYTHONMALLOC=")), "")
    return f"PYTHONMALLOC={value}" if value else "pymalloc (PYTHONMALLOC not set)"


class Samplers:
    """Background threads: process samples, /metrics latency, liveness-door latencies."""

    def __init__(self, soak: SoakLab) -> None:
        self.soak = soak
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.process: list[tuple[float, float, float, float]] = []  # t, rss MB, fds, cpu s
        self.allocator = ""  # the supervisor's PYTHONMALLOC, read from its own environment
        # (seconds since start, milliseconds)
        self.metrics_ms: list[tuple[float, float]] = []
        self.ami_ping_ms: list[tuple[float, float]] = []
        self.control_ms: list[tuple[float, float]] = []
        self.door_failures = 0
        self.threads = [
            threading.Thread(target=self._process_loop, daemon=True),
            threading.Thread(target=self._metrics_loop, daemon=True),
            threading.Thread(
                target=lambda: netns.call_in(soak.lab.pod, self._ami_loop), daemon=True
            ),
            threading.Thread(target=self._control_loop, daemon=True),
        ]

    def start(self) -> Samplers:
        for thread in self.threads:
            thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _sample(self, start: float) -> tuple[float, float]:
        """(when, on the monotonic clock, seconds since t0; how long, ms since `start`)."""
        return time.monotonic() - self.t0, (time.perf_counter() - start) * 1000

    def _process_loop(self) -> None:
        while not self.stop.wait(2.0):
            pid = self.soak.sup.process.pid if self.soak.sup.process else 0
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / TICKS
                status = Path(f"/proc/{pid}/status").read_text()
                rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except (OSError, AttributeError):
                continue
            if not self.allocator:
                with contextlib.suppress(OSError):
                    self.allocator = allocator_of(pid)
            self.process.append((time.monotonic() - self.t0, rss, fds, cpu))

    def _metrics_loop(self) -> None:
        url = f"http://127.0.0.1:{self.soak.sup.port}/metrics"

        def timed() -> None:
            while not self.stop.wait(0.5):
                start = time.perf_counter()
                with contextlib.suppress(OSError):
                    urllib_get(url)
                    self.metrics_ms.append(self._sample(start))

        netns.call_in(self.soak.lab.pod, timed)

    def _ami_loop(self) -> None:
        while not self.stop.is_set():
            user, secret = self.soak.ami_credentials()  # a new supervisor: a new secret
            try:
                with socket.create_connection(("127.0.0.1", 5038), timeout=5) as sock:
                    ami = sock.makefile("rwb")
                    ami.readline()  # banner
                    ami_send(
                        ami,
                        {"Action": "Login", "Username": user, "Secret": secret, "Events": "off"},
                    )
                    if ami_read(ami).get("Response") != "Success":
                        raise OSError("login refused")
                    while not self.stop.wait(1.0):
                        start = time.perf_counter()
                        ami_send(ami, {"Action": "Ping"})
                        if ami_read(ami).get("Response") != "Success":
                            raise OSError("ping refused")
                        self.ami_ping_ms.append(self._sample(start))
            except OSError:
                self.door_failures += 1
                self.stop.wait(1.0)

    def _control_loop(self) -> None:
        root = self.soak.run.rootfs
        conf = self.soak.run.inside(self.soak.run.path("etc")) + "/asterisk.conf"
        command = self.soak.lab.netns_exec(
            "pod",
            ["chroot", str(root), "/usr/sbin/asterisk", "-rx", "core show uptime", "-C", conf],
        )
        while not self.stop.wait(2.0):
            start = time.perf_counter()
            try:
                done = proc_run(command, 20)
            except TimeoutError:
                continue
            if done == 0:
                self.control_ms.append(self._sample(start))


def urllib_get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        return bytes(resp.read())


def proc_run(argv: list[str], timeout: float) -> int:
    import subprocess

    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout).returncode
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError from exc


def ami_send(stream: Any, fields: Mapping[str, str]) -> None:
    stream.write("".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n")
    stream.flush()


def ami_read(stream: Any) -> dict[str, str]:
    """The next message (events are off, so it is the response)."""
    message: dict[str, str] = {}
    while True:
        line = stream.readline()
        if not line:
            raise OSError("AMI connection closed")
        text = line.decode(errors="replace").rstrip("\r\n")
        if not text:
            if message:
                return message
            continue
        name, _, value = text.partition(": ")
        message.setdefault(name, value)


# ---- faults ------------------------------------------------------------------------------------


@dataclass
class FaultResult:
    name: str
    segment: int
    detect_s: float | None = None
    recover_s: float | None = None
    note: str = ""
    window: tuple[float, float] = (0.0, 0.0)  # monotonic: injected .. ready again (or given up)


def poll(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until predicate() held, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with contextlib.suppress(OSError, ValueError):
            if predicate():
                return time.monotonic() - start
        time.sleep(interval)
    return None


def steady_counts(
    soak: SoakLab, steady_s: float = 3.0, timeout: float = 30.0
) -> dict[Key, float] | None:
    """calls_total once it has not changed for `steady_s`; None if it kept changing."""
    deadline = time.monotonic() + timeout
    last, since = counts(soak), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = counts(soak)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= steady_s:
            return now
    return None


def record_queue(soak: SoakLab) -> int | None:
    """Calls in the call record not counted yet (the recorder's last pass)."""
    value = soak.sup.status().get("records", {}).get("calls_queued")
    return value if isinstance(value, int) else None


def single(soak: SoakLab, name: str) -> float | None:
    return scrape(soak.sup)[1].get(name)


def inject(soak: SoakLab, fault: str, segment: int) -> FaultResult:
    """Inject one fault; time its detection and the recovery to ready."""
    plan, lab, result = soak.plan, soak.lab, FaultResult(fault, segment)
    t0 = time.monotonic()
    limit = plan.hang_timeout_s * 2 + 60
    if fault == "ami-cut":
        rule = ["-p", "tcp", "--dport", "5038", "-j", "REJECT", "--reject-with", "tcp-reset"]
        lab.run("pod", ["iptables", "-I", "INPUT", "-i", "lo", *rule])
        try:
            result.detect_s = poll(
                lambda: single(soak, "asterisk_supervisor_ami_connected") == 0, limit
            )
            time.sleep(max(0.0, plan.ami_cut_s - (time.monotonic() - t0)))
        finally:
            lab.run("pod", ["iptables", "-D", "INPUT", "-i", "lo", *rule])
        result.note = f"AMI port REJECTed (TCP reset) for {plan.ami_cut_s:g} s"
    elif fault == "kill-9" and soak.asterisk is not None:  # sidecar: not the supervisor's
        killed = soak.asterisk
        os.kill(killed.pid, 9)
        if killed.process is not None:
            killed.process.wait(10)
        result.detect_s = poll(lambda: not soak.sup.ready(), limit, 0.02)
        soak.start_asterisk()  # the Asterisk container's restart policy
        result.note = f"Asterisk pid {killed.pid} killed, started again (the other container)"
    elif fault == "kill-9":
        pid = soak.asterisk_pid()
        assert pid is not None
        os.kill(pid, 9)
        result.detect_s = poll(
            lambda: single(soak, "asterisk_supervisor_asterisk_up") == 0, limit, 0.02
        )
        result.note = f"Asterisk pid {pid} killed"
    elif fault == "supervisor-restart":
        old = soak.sup.process.pid if soak.sup.process else 0
        with soak.mount_lock:  # the swapper waits: the new process starts on an invalid site
            fixed = soak.mounted if soak.swaps % 2 == 0 else dict(soak.site)
            soak.publish(swapped_site(soak.site, 1))
            soak.restart_supervisor()
            result.detect_s = time.monotonic() - t0
            soak.sup.wait_ready(limit)  # raises with its log should the new process exit
            restored = single(soak, "asterisk_supervisor_config_last_good_restored") == 1
            soak.publish(fixed)  # the ConfigMap fixed: it must apply
            applied = poll(
                lambda: single(soak, "asterisk_supervisor_config_last_good_restored") == 0, limit
            )
        on = "started on the last good config" if restored else "NOT on the last good config"
        fix = "NOT applied" if applied is None else f"applied {applied:.1f} s later"
        result.note = (
            f"supervisor pid {old} killed (-9) and started again on an invalid site ({on}; the "
            f"fixed site {fix}); Asterisk runs on"
        )
    elif fault == "freeze":
        pid = soak.asterisk_pid()
        assert pid is not None
        before = single(soak, "asterisk_supervisor_asterisk_hangs_total") or 0
        os.kill(pid, 19)  # SIGSTOP
        try:
            result.detect_s = poll(
                lambda: (single(soak, "asterisk_supervisor_asterisk_hangs_total") or 0) > before,
                limit,
            )
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 18)  # SIGCONT, should the watchdog have missed it
        result.note = f"Asterisk pid {pid} frozen (SIGSTOP), hang timeout {plan.hang_timeout_s:g} s"
    elif fault == "address-flap":
        lab.del_address("pod", f"{POD_V4}/32")
        try:
            result.detect_s = poll(lambda: not soak.sup.ready(), limit)
            time.sleep(max(0.0, plan.flap_s - (time.monotonic() - t0)))
        finally:
            lab.add_address("pod", f"{POD_V4}/32")
            lab.default_routes("pod", v4=True, v6=False)
        result.note = f"pod IPv4 {POD_V4} removed for {plan.flap_s:g} s"
    recovered = poll(soak.sup.ready, limit)
    result.recover_s = None if recovered is None else time.monotonic() - t0
    result.window = (t0, time.monotonic())
    return result


class Swapper:
    """Publishes a site every `every_s` seconds, alternating valid and invalid (kubelet-style),
    and checks 2.5 s later that the supervisor applied the valid one and rejected the other
    (`last_reload_successful` 1 or 0)."""

    def __init__(self, soak: SoakLab, every_s: float) -> None:
        self.soak, self.every_s = soak, every_s
        self.stop = threading.Event()
        self.swaps = 0
        self.as_expected = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(self.every_s):
            with self.soak.mount_lock:
                self.swaps += 1
                self.soak.swaps = self.swaps
                self.soak.publish(swapped_site(self.soak.site, self.swaps))
            if self.stop.wait(min(2.5, self.every_s / 2)):
                return
            with contextlib.suppress(OSError, ValueError):
                ok = single(self.soak, "asterisk_supervisor_last_reload_successful")
                self.as_expected += ok == (0.0 if self.swaps % 2 else 1.0)

    def __enter__(self) -> Swapper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        # End on the base site, valid.
        with self.soak.mount_lock:
            self.soak.publish(self.soak.site)


# ---- the run -----------------------------------------------------------------------------------


@dataclass
class Segment:
    index: int
    fault: str | None
    placed: dict[str, int] = field(default_factory=dict)  # stream -> sipp OutgoingCall
    ok: dict[str, int] = field(default_factory=dict)  # stream -> sipp SuccessfulCall
    failed: dict[str, int] = field(default_factory=dict)  # stream -> sipp FailedCall
    counted: dict[Key, int] = field(default_factory=dict)  # supervisor delta
    settled: bool = True
    seconds: float = 0.0
    ended_at: float = 0.0  # monotonic

    def expected(self) -> dict[Key, int]:
        by_key: dict[Key, int] = {}
        for stream in STREAMS:
            if self.ok.get(stream.name):
                by_key[stream.key] = by_key.get(stream.key, 0) + self.ok[stream.name]
        return by_key

    @property
    def exact(self) -> bool:
        return (
            self.settled
            and not any(self.failed.values())
            and {k: v for k, v in self.counted.items() if v} == self.expected()
        )

    @property
    def lost(self) -> int:
        return sum(v for k, v in self.counted.items() if k[2] == "lost")

    @property
    def exact_but_lost(self) -> bool:
        """What a fault segment must be: every call sipp completed counted under its outcome,
        and the `lost` ones no more than the calls sipp saw fail (calls with no end)."""
        real = {k: v for k, v in self.counted.items() if v and k[2] != "lost"}
        return self.settled and real == self.expected() and self.lost <= sum(self.failed.values())


@dataclass
class SoakResult:
    plan: Plan
    segments: list[Segment]
    faults: list[FaultResult]
    samplers: Samplers
    swaps: int
    swaps_as_expected: int
    seconds: float
    cpu_s: float
    phantom_calls: float | None
    load: LoadSummary

    @property
    def placed(self) -> int:
        return sum(sum(s.placed.values()) for s in self.segments)


def run_segment(soak: SoakLab, index: int, fault: str | None, faults: list[FaultResult]) -> Segment:
    plan = soak.plan
    soak.segment = index
    total_weight = sum(s.weight for s in STREAMS)
    before = counts(soak)
    segment = Segment(index, fault)
    t0 = time.monotonic()
    callers = []
    for stream in STREAMS:
        rate = plan.rate * stream.weight / total_weight
        calls = max(1, round(rate * plan.segment_s))
        callers.append((stream, soak.caller(stream, calls, rate)))
    if fault is not None:
        time.sleep(plan.segment_s * plan.fault_at)
        faults.append(inject(soak, fault, index))
    for stream, uac in callers:
        with contextlib.suppress(Exception):
            uac.wait(plan.segment_s + 120)
        uac.stop()
        stats = soak.stats(uac)
        segment.placed[stream.name] = stats.get("OutgoingCall", 0)
        segment.ok[stream.name] = stats.get("SuccessfulCall", 0)
        segment.failed[stream.name] = stats.get("FailedCall", 0)
    # Every caller is done: the supervisor must come to no active call (Asterisk's hangups and
    # a re-sync after a fault included), and its count of ended calls must stop moving: it
    # counts them from the durable call record, folded about once a second (supervisor/records),
    # and every call that began must be folded (its end recorded, or lost once Asterisk no
    # longer has it: 15 s after its last event, longer than the steadiness below).
    active_gone = (
        poll(lambda: single(soak, "asterisk_supervisor_calls_active") == 0, 75, 0.2) is not None
        and poll(lambda: record_queue(soak) == 0, 75, 0.2) is not None
    )
    after = steady_counts(soak)
    segment.settled = active_gone and after is not None
    if after is None:
        after = counts(soak)
    segment.counted = {
        k: int(after.get(k, 0) - before.get(k, 0))
        for k in set(after) | set(before)
        if after.get(k, 0) != before.get(k, 0)
    }
    segment.ended_at = time.monotonic()
    segment.seconds = segment.ended_at - t0
    return segment


def run_soak(plan: Plan, progress: Callable[[str], None] = print) -> SoakResult:
    with LoadSampler() as load:
        return _run_soak(plan, progress, load)


def _run_soak(plan: Plan, progress: Callable[[str], None], load: LoadSampler) -> SoakResult:
    soak = SoakLab(plan)
    try:
        samplers = Samplers(soak).start()
        cpu0 = soak.cpu_s()
        t0 = time.monotonic()
        segments: list[Segment] = []
        faults: list[FaultResult] = []
        fault_plan = plan.fault_segments()
        with Swapper(soak, plan.swap_every_s) as swapper:
            for index in range(plan.segments):
                segment = run_segment(soak, index, fault_plan.get(index), faults)
                segments.append(segment)
                progress(
                    f"segment {index + 1}/{plan.segments} ({segment.fault or 'no fault'}): "
                    f"{sum(segment.placed.values())} placed, {sum(segment.failed.values())} "
                    f"failed in sipp, {sum(segment.counted.values())} counted, "
                    f"{'exact' if segment.exact else 'differs'}, {segment.seconds:.0f} s"
                )
        seconds = time.monotonic() - t0
        cpu = soak.cpu_s() - cpu0
        samplers.close()
        _, single1 = scrape(soak.sup)
        wait_until(lambda: soak.sup.ready(), 30, what="ready at the end")
        return SoakResult(
            plan=plan,
            segments=segments,
            faults=faults,
            samplers=samplers,
            swaps=swapper.swaps,
            swaps_as_expected=swapper.as_expected,
            seconds=seconds,
            cpu_s=cpu,
            phantom_calls=single1.get("asterisk_supervisor_calls_active"),
            load=load.summary(),
        )
    finally:
        soak.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# ---- the report --------------------------------------------------------------------------------


def explain(segment: Segment) -> list[str]:
    """Each difference between sipp's statistics and the supervisor's counts in a segment, as
    measured: a cause is named only where the counts themselves show it (`lost`), the rest is
    called unexplained."""
    notes = []
    expected, counted = segment.expected(), segment.counted
    lost = sum(v for k, v in counted.items() if k[2] == "lost")
    failed = sum(segment.failed.values())
    if lost:
        notes.append(
            f"{lost} call(s) were seen starting before the fault and ended during it, unseen "
            "(AMI down, Asterisk killed or frozen): closed at the re-sync with outcome `lost`"
        )
    fewer = more = 0
    for key in sorted(set(expected) | {k for k in counted if k[2] != "lost"}):
        diff = counted.get(key, 0) - expected.get(key, 0)
        fewer += max(0, -diff)
        more += max(0, diff)
    if fewer:
        notes.append(
            f"{fewer} call(s) that sipp completed are not under their own outcome: up to "
            f"{min(fewer, lost)} of them are the `lost` ones above"
            + (
                f"; the other {fewer - lost} are **unexplained** (nothing in this run measured "
                "which calls they were or why the supervisor did not count them)"
                if fewer > lost
                else ""
            )
        )
    if more:
        notes.append(
            f"{more} call(s) counted with an outcome that sipp counted failed "
            "(**unexplained**: this run does not record what sipp saw of each call)"
        )
    if failed:
        notes.append(
            f"{failed} call(s) failed in sipp during the fault; the supervisor counted "
            f"{sum(counted.values())} of the {sum(segment.placed.values())} placed"
        )
    if not segment.settled:
        notes.append("the supervisor still showed active calls 75 s after the callers ended")
    return notes


def outside(
    samples: list[tuple[float, float]], t0: float, faults: list[FaultResult], margin: float = 2.0
) -> list[float]:
    """Durations of samples taken outside every fault window (plus a margin)."""
    windows = [(a - t0 - margin, b - t0 + margin) for a, b in (f.window for f in faults)]
    return [ms for t, ms in samples if not any(a <= t <= b for a, b in windows)]


def door_row(name: str, samples: list[tuple[float, float]], live: list[float]) -> str:
    every = [ms for _, ms in samples]
    return (
        f"| {name} | {len(live)} | {quantile_text(live, 0.5, unit=' ms')} | "
        f"{quantile_text(live, 0.99, unit=' ms')} | {max(live, default=0):.1f} ms | "
        f"{max(every, default=0):.1f} ms |"
    )


def after_warmup(result: SoakResult) -> tuple[float, int] | None:
    """(seconds since the samplers started, calls placed since) from the end of the segment
    in which the supervisor process running at the end had seen WARMUP_CALLS; None if it never
    got there. A supervisor restarted (sidecar mode) starts with an empty memory of ended calls:
    its calls are counted from the end of the restart's segment (the part of that segment it
    saw is left out, so its warm-up ends later, never earlier)."""
    placed = 0
    for g in result.segments:
        placed = 0 if g.fault == "supervisor-restart" else placed + sum(g.placed.values())
        if placed >= WARMUP_CALLS:
            after = sum(sum(s.placed.values()) for s in result.segments if s.index > g.index)
            return g.ended_at - result.samplers.t0, after
    return None


def rss_lines(result: SoakResult) -> list[str]:
    """RSS over the run, and its slope after warm-up (the figure that must be flat)."""
    rss = [(t, r) for t, r, _, _ in result.samplers.process]
    if not rss:
        return ["- RSS: no samples"]
    start, end = rss[0][1], rss[-1][1]
    quarters = " / ".join(f"{rss[int(q * (len(rss) - 1))][1]:.1f}" for q in QUARTERS)
    lines = [
        f"- RSS: {start:.1f} MB at the start, {end:.1f} MB at the end, slope "
        f"{slope_per_min(rss) * 1024:+.1f} KB/min over {len(rss)} samples; at 0/25/50/75/100 % "
        f"of the run: {quarters} MB."
    ]
    warm = after_warmup(result)
    if warm is None:
        restarted = any(g.fault == "supervisor-restart" for g in result.segments)
        lines.append(
            f"- RSS after warm-up: not reached (warm-up is the first {WARMUP_CALLS:,} calls: "
            f"the supervisor's bounded memory of ended calls fills; {result.placed:,} placed"
            + ("; counted from the supervisor's restart" if restarted else "")
            + ")."
        )
        return lines
    t_warm, calls = warm
    after = [(t, r) for t, r in rss if t >= t_warm]
    minutes = (after[-1][0] - after[0][0]) / 60 if len(after) > 1 else 0.0
    slope = slope_per_min(after) * 1024
    per_call = slope * minutes / calls * 1024 if calls else float("nan")
    lines.append(
        f"- RSS after warm-up (from the end of the segment that reached {WARMUP_CALLS:,} calls: "
        f"the bounded memory of ended calls filled, turned over): **{slope:+.1f} KB/min** over "
        f"{len(after)} samples, {minutes:.1f} min and **{calls:,} calls** ({per_call:+.0f} B per "
        f"call); {after[0][1] if after else float('nan'):.1f} → {end:.1f} MB; target < 10 KB/min: "
        f"{'met' if abs(slope) < 10 and calls >= 20_000 else 'NOT met'}"
        + ("" if calls >= 20_000 else " (fewer than 20,000 calls after warm-up)")
        + "."
    )
    return lines


def fmt_key(key: Key) -> str:
    return f"{key[0]}/{key[2]}"


def render(result: SoakResult, report: Path | None = None) -> str:
    plan, s = result.plan, result.samplers
    clean = [g for g in result.segments if g.fault is None]
    exact = sum(g.exact for g in clean)
    process = s.process
    fds = [(t, f) for t, _, f, _ in process]
    calls = result.placed
    lines = [
        *header(
            "Soak: calls, config swaps and faults through the real supervisor",
            result.load,
            report=report,
        ),
        "The set-up is in `bench/bench_soak.py`'s docstring.",
        "",
        f"- Plan: {plan.segments} segments of {plan.segment_s:g} s at {plan.rate:g} calls/s "
        f"(12 sipp callers: internal, outbound, inbound x answered, busy, no answer, cancelled; "
        f"answered calls held {plan.hold_ms / 1000:g} s), ConfigMap swap every "
        f"{plan.swap_every_s:g} s alternating valid/invalid, hang timeout "
        f"{plan.hang_timeout_s:g} s; "
        + (
            "**sidecar mode** (the soak runs Asterisk as the other container and starts it "
            "again after kill -9)."
            if plan.sidecar
            else "entrypoint mode (the supervisor runs Asterisk)."
        ),
        f"- Calls placed (sipp's OutgoingCall): **{calls}** in {result.seconds / 60:.1f} min; "
        f"{sum(sum(g.failed.values()) for g in result.segments)} failed in sipp (all inside "
        "fault segments unless the table says otherwise).",
        f"- Clean segments exact (sipp's successful calls = supervisor's count, per direction "
        f"and outcome, no sipp failure): **{exact} of {len(clean)}**.",
        f"- Fault segments exact but for calls with no end (every call sipp completed counted "
        f"under its outcome, `lost` at most the calls sipp saw fail): **"
        f"{sum(g.exact_but_lost for g in result.segments if g.fault)} of "
        f"{sum(1 for g in result.segments if g.fault)}**.",
        f"- Config swaps: {result.swaps} ({(result.swaps + 1) // 2} invalid, {result.swaps // 2} "
        f"valid); {result.swaps_as_expected} seen applied or rejected as expected 2.5 s later "
        "(a swap during a fault may not be); the clean segments ran through swaps.",
        f"- Active calls after the run (phantoms): **{result.phantom_calls}**.",
        "",
        "Method: traffic runs in segments; a segment's callers start together, and the segment "
        "ends when every caller is done and the supervisor shows no active call, so each "
        "segment's sipp statistics (`-trace_stat`, per stream) are set against the delta of "
        "`asterisk_supervisor_calls_total` between two scrapes. Config swaps run on their own "
        "timer across segments. Each fault has its own segment and is injected a third of the "
        "way in; the other segments are the clean ones. Load is not continuous across segment "
        "boundaries (a few seconds of drain between segments).",
        "",
        "## Faults: detection and recovery",
        "",
        "| fault | segment | what | detected after | ready again after |",
        "|---|---:|---|---:|---:|",
    ]
    for f in result.faults:
        det = f"{f.detect_s:.2f} s" if f.detect_s is not None else "not seen"
        rec = f"{f.recover_s:.2f} s" if f.recover_s is not None else "not recovered"
        lines.append(f"| {f.name} | {f.segment + 1} | {f.note} | {det} | {rec} |")
    lines += [
        "",
        "Detected: AMI cut → `ami_connected` 0; kill -9 → `asterisk_up` 0 (sidecar: "
        "`/readyz` 503); freeze → `asterisk_hangs_total` +1 (hang timeout plus at most one "
        "probe round); address flap → `/readyz` 503; supervisor restart: the old process's "
        "final counts read (under the record's write lock) and the process killed. Ready "
        "again: `/readyz` 200, measured from the injection. Counts across a supervisor restart "
        "are the old process's final counts plus the new one's (what `increase()` adds up). "
        "The new supervisor starts while the mounted site is invalid (the swapper's invalid "
        "site, published with the swapper held): it must start on the last good config kept "
        "on the volume (`config_last_good_restored` 1), and the site put back valid once it is "
        "ready must apply (`config_last_good_restored` 0).",
        "",
        "## Calls per segment: sipp against the supervisor",
        "",
        "| seg | fault | placed | sipp ok | sipp failed | counted | lost | exact | "
        "exact but lost |",
        "|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for g in result.segments:
        lines.append(
            f"| {g.index + 1} | {g.fault or '-'} | {sum(g.placed.values())} | "
            f"{sum(g.ok.values())} | {sum(g.failed.values())} | {sum(g.counted.values())} | "
            f"{g.lost} | {'yes' if g.exact else 'no'} | {'yes' if g.exact_but_lost else 'no'} |"
        )
    totals_expected: dict[Key, int] = {}
    totals_counted: dict[Key, int] = {}
    for g in result.segments:
        for k, v in g.expected().items():
            totals_expected[k] = totals_expected.get(k, 0) + v
        for k, v in g.counted.items():
            totals_counted[k] = totals_counted.get(k, 0) + v
    lines += [
        "",
        "## By direction and outcome, whole run",
        "",
        "| direction/outcome | sipp completed | supervisor counted |",
        "|---|---:|---:|",
    ]
    for key in sorted(set(totals_expected) | set(totals_counted)):
        lines.append(
            f"| {fmt_key(key)} | {totals_expected.get(key, 0)} | {totals_counted.get(key, 0)} |"
        )
    lines += ["", "## Every difference", ""]
    for g in result.segments:
        notes = explain(g)
        if g.exact or not notes:
            continue
        lines.append(f"Segment {g.index + 1} ({g.fault or 'no fault'}):")
        lines += [f"- {n}" for n in notes]
        lines.append("")
    cpu_per_call = result.cpu_s / calls * 1000 if calls else float("nan")
    metrics_live = outside(s.metrics_ms, s.t0, result.faults)
    lines += [
        "## The supervisor's resources",
        "",
        f"- Allocator of the supervisor's Python objects: {s.allocator or 'not read'}.",
        *rss_lines(result),
        f"- Open fds: {fds[0][1]:.0f} → {fds[-1][1]:.0f}, slope **{slope_per_min(fds):+.2f} "
        "fds/min**."
        if fds
        else "- fds: no samples",
        f"- CPU: {result.cpu_s:.1f} s over the run: **{cpu_per_call:.2f} ms per call** "
        "(AMI events, state, scrapes and reloads included).",
        f"- `/metrics` under load ({len(metrics_live)} scrapes every 0.5 s outside fault windows, "
        f"from inside the pod namespace): p50 {quantile_text(metrics_live, 0.5, unit=' ms')}, "
        f"**p99 {quantile_text(metrics_live, 0.99, unit=' ms')}**, max "
        f"{max(metrics_live, default=0):.1f} ms.",
        "",
        "## The hang watchdog's doors under load (justifies the hang-timeout default)",
        "",
        "| door | samples (live load) | p50 | p99 | max | max incl. fault windows |",
        "|---|---:|---:|---:|---:|---:|",
        door_row(
            "AMI Ping round trip (second session of the supervisor's user)",
            s.ami_ping_ms,
            outside(s.ami_ping_ms, s.t0, result.faults),
        ),
        door_row(
            '`asterisk -rx "core show uptime"` (process start included)',
            s.control_ms,
            outside(s.control_ms, s.t0, result.faults),
        ),
        "",
        "Live load: samples outside the fault windows (injection to ready again, plus 2 s). "
        "Inside them a door either does not answer at all (killed, frozen: no sample) or answers "
        "late because Asterisk is booting (a console that connects during boot waits for it).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_soak", description=__doc__)
    parser.add_argument("--calls", type=int, default=FULL.calls)
    parser.add_argument("--rate", type=float, default=FULL.rate)
    parser.add_argument("--segment-s", type=float, default=FULL.segment_s)
    parser.add_argument("--hold-ms", type=int, default=FULL.hold_ms)
    parser.add_argument("--no-faults", action="store_true", help="load only (door latencies)")
    parser.add_argument("--short", action="store_true", help="the CI version's plan")
    parser.add_argument(
        "--sidecar",
        action="store_true",
        help="--mode sidecar: faults ami-cut, supervisor-restart, kill-9 (Asterisk restarted "
        "by the soak, as another container's restart policy would)",
    )
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    faults = SIDECAR_FAULTS if args.sidecar else FAULTS
    if args.short:
        plan = SIDECAR_SHORT if args.sidecar else SHORT
    else:
        plan = Plan(
            calls=args.calls,
            rate=args.rate,
            segment_s=args.segment_s,
            hold_ms=args.hold_ms,
            faults=() if args.no_faults else faults,
            sidecar=args.sidecar,
        )
    result = run_soak(plan)
    report = args.report or (None if args.short else REPORT)
    text = render(result, report)
    print(text)
    if report is not None:
        write(report, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
