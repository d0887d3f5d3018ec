"""The README's run command: a whole PBX pod on this machine.

    python -m lab [--calls N] [--interval S] [--port P]     the demo (Ctrl-C stops it)
    python -m lab swap MOUNT_DIR SOURCE_DIR                   publish a directory kubelet-style

The demo brings up the lab network, a sipp registrar playing the VoIP provider, the supervisor as
the pod's entrypoint (in the pod namespace, with examples/home as its ConfigMap and Secret, mounted
the way kubelet mounts them; a throw-away CA and certificate replace the example's tls.crt/tls.key),
two desk phones that register (the kitchen's over TLS) and answer, and places a doorbell call
every few seconds. Calls carry audio both ways (a PCMU tone, lab/audio.py), and each call's line
and the summary report the received packet loss and one-way audio the supervisor measured.
/status and /metrics are forwarded to the host's loopback, as `kubectl port-forward` would.
Ctrl-C (or --calls N) tears everything down.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lab import explaindemo, netns, sipp, voicemail
from lab.asterisk import RunDir, sweep_stale_runs, wait_until
from lab.kubelet import write_mount
from lab.netns import Lab
from lab.paths import REPO
from lab.phones import PHONES_V6, Phones
from lab.pki import Ca
from lab.portforward import PortForward
from lab.rootfs import ensure_rootfs
from lab.supervisor import SupervisorRun, read_dir
from supervisor.ami.calls import OUTCOMES

EXAMPLE = REPO / "examples" / "home"


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def demo(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    netns.sweep_stale()
    rootfs = ensure_rootfs()
    sweep_stale_runs(rootfs)
    lab = Lab()
    run = RunDir(rootfs, f"{lab.prefix}-demo")
    stoppers: list[Callable[[], object]] = []
    sup: SupervisorRun | None = None
    placed = answered_by_sipp = 0
    say(f"lab prefix {lab.prefix} (namespaces {lab.prefix}-pod, -provider, -doorbell, -router)")
    try:
        lab.up()
        run.create()
        site, secrets = read_dir(EXAMPLE / "site"), read_dir(EXAMPLE / "secrets")
        # A throw-away CA and the pod's certificate, in the Secret as cert-manager writes them
        # (tls.crt, tls.key, ca.crt): the kitchen phone registers over TLS and trusts this CA.
        ca = Ca("asterisk-supervisor demo CA (throw-away)")
        server = ca.issue(("pbx.home.example", netns.POD_V6, netns.POD_V4))
        secrets |= server.secret_files(ca)
        provider = sipp.registrar(
            lab, run, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
        )
        stoppers.append(provider.stop)
        sup = SupervisorRun(lab, run, site, secrets)
        stoppers.append(sup.stop)
        sup.start()
        ready_after = sup.wait_ready(60)
        say(
            f"supervisor ready {ready_after:.1f} s after it started "
            f"(Asterisk 22 in the pod namespace, {netns.POD_V6} and {netns.POD_V4})"
        )
        forward = PortForward(lab.pod, sup.port, host_port=args.port).start()
        stoppers.append(forward.stop)
        base = f"http://127.0.0.1:{forward.port}"
        say(f"status:  curl {base}/status      metrics: curl {base}/metrics")
        say(f"logs:    {sup.log}")
        wait_until(
            lambda: sup.metric("asterisk_supervisor_tls_certificate_served_matches") == 1.0,
            15,
            interval=0.2,
            what="the served certificate to be verified",
        )
        say(
            f"TLS on [{netns.POD_V6}]:5061 serves the Secret's certificate "
            f"sha256 {server.fingerprint[:16]}... (checked by the supervisor's own handshake)"
        )
        phones = Phones(lab, run)
        stoppers.append(phones.stop)
        phones.start_ringer()
        phones.start_ringer(tls=ca.issue((PHONES_V6,)))
        phones.register(
            {"kitchen": secrets["kitchen-password"].strip()},
            tls=ca.issue((PHONES_V6,), client=True),
        )
        say("kitchen phone registered over TLS (port 5061); the desk phone is off for now")
        wait_until(
            lambda: sup.metric("asterisk_pjsip_outbound_registration_status") == 1.0,
            30,
            interval=0.5,
            what="the trunk to register",
        )
        say(
            f"trunk 'provider' registered at [{netns.PROVIDER_V6}]:5060 "
            f"({time.monotonic() - t_start:.1f} s after the run command started here)"
        )
        lamp = voicemail.demo_message(lab, run, sup, secrets["desk-password"].strip(), say)
        stoppers.append(lamp.stop)
        phones.register({"desk": secrets["desk-password"].strip()})
        say("desk and kitchen phones registered")
        explaindemo.explain_and_call(lab, run, EXAMPLE / "site", say)
        say(f"live reload: edit a copy of {EXAMPLE / 'site'} and publish it as kubelet would:")
        say(f"  .venv/bin/python -m lab swap {sup.config_mount} YOUR_COPY")
        placed = answered_by_sipp = 0
        while not stop.is_set() and (args.calls == 0 or placed < args.calls):
            placed += 1
            before = Audio.read(sup)
            call = sipp.call(
                lab,
                run,
                "doorbell",
                netns.DOORBELL_V4,
                f"{netns.POD_V4}:5060",
                "100",
                hold_ms=4000,  # talk long enough for one-way detection (3 s)
                name=f"doorbell-{placed}",
                timeout_s=30,
                scenario="uac_audio.xml",
                extra=["-mp", "6000"],
            )
            code = call.wait(40)
            answered_by_sipp += code == 0
            # the record counts a call about a second after it ended (see summary())
            with contextlib.suppress(TimeoutError, OSError, ValueError):
                wait_until(
                    lambda n=placed: sum(counted(sup).values()) >= n, 5, what="the call's count"
                )
            answered = counted(sup).get("answered", 0)
            audio = Audio.settled(sup, before)
            say(
                f"doorbell call {placed}: {'answered' if code == 0 else 'FAILED'}, "
                f"{audio.describe()} (calls answered so far: {answered:.0f})"
            )
            if placed == 1 and code == 0:
                say(
                    f"first doorbell call answered {time.monotonic() - t_start:.1f} s after "
                    "the run command started"
                )
            if args.calls == 0 or placed < args.calls:
                stop.wait(args.interval)
        return 0
    except Exception as exc:  # the summary and the teardown below still run: no traceback
        say(f"stopped early: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return 1
    finally:
        if sup is not None:
            summary(sup, placed, answered_by_sipp, audio=audio_summary(sup))
            history(run)
        for stopper in reversed(stoppers):
            try:
                stopper()
            except Exception as exc:  # keep tearing down
                print(f"demo: teardown: {exc}", file=sys.stderr)
        run.remove()
        lab.down()
        left = netns.namespaces_with_prefix(lab.prefix)
        say("torn down" if not left else f"teardown left namespaces: {left}")


def history(run: RunDir) -> None:
    """The call history of this run, as `kubectl exec ... asterisk-supervisor calls` prints it
    in a pod (the same command, on the record in the run's spool volume); never raises."""
    record = run.path("spool") / "records" / "calls.db"
    argv = [sys.executable, "-m", "supervisor", "calls", "--since", "1h", "--record", str(record)]
    say("call history (asterisk-supervisor calls --since 1h):")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        say(f"  history not read: {exc}")
        return
    for line in (done.stdout or done.stderr).splitlines():
        print(f"  {line}", flush=True)


@dataclass(frozen=True)
class Audio:
    """The supervisor's call-quality counters for internal calls (the doorbell's), summed."""

    calls: float  # answered calls with loss statistics
    loss_sum: float
    one_way: float

    @classmethod
    def read(cls, sup: SupervisorRun) -> Audio:
        def value(name: str) -> float:
            return sup.metric(name, {"direction": "internal", "trunk": ""}) or 0.0

        return cls(
            value("asterisk_supervisor_call_packet_loss_ratio_count"),
            value("asterisk_supervisor_call_packet_loss_ratio_sum"),
            value("asterisk_supervisor_calls_one_way_media_total"),
        )

    @classmethod
    def settled(cls, sup: SupervisorRun, before: Audio) -> Audio:
        """The change since `before`, once the call's statistics arrived (or 5 s passed)."""
        deadline = time.monotonic() + 5
        while True:
            now = cls.read(sup)
            changed = now.calls > before.calls or now.one_way > before.one_way
            if changed or time.monotonic() > deadline:
                return cls(
                    now.calls - before.calls,
                    now.loss_sum - before.loss_sum,
                    now.one_way - before.one_way,
                )
            time.sleep(0.2)

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.calls if self.calls else 0.0

    def describe(self) -> str:
        if self.one_way:
            return "ONE-WAY audio (see /status)"
        if not self.calls:
            return "no RTP statistics"
        return f"audio both ways, received loss {self.mean_loss * 100:.1f} %"


def audio_summary(sup: SupervisorRun) -> Callable[[], str]:
    def line() -> str:
        audio = Audio.read(sup)
        return (
            f"audio: {audio.calls:.0f} calls with RTP statistics, mean received loss "
            f"{audio.mean_loss * 100:.1f} %, {audio.one_way:.0f} one-way"
        )

    return line


def counted(sup: Metrics, direction: str = "internal") -> dict[str, float]:
    """The supervisor's calls_total by outcome for one direction (the doorbell's calls are
    internal; the voicemail call comes in from the trunk); {} if /metrics is not there."""
    result: dict[str, float] = {}
    for outcome in OUTCOMES:
        try:
            labels = {"outcome": outcome, "direction": direction}
            value = sup.metric("asterisk_supervisor_calls_total", labels)
        except (OSError, ValueError):
            return {}
        if value:
            result[outcome] = value
    return result


class Metrics(Protocol):
    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float | None: ...


def summary(
    sup: Metrics,
    placed: int,
    answered_by_sipp: int,
    settle_s: float = 10.0,
    audio: Callable[[], str] | None = None,
) -> None:
    """Calls placed (sipp's view) against calls counted (the supervisor's), every difference
    explained; never raises, whatever the counts are."""
    active: float | None = 0.0
    try:
        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: sup.metric("asterisk_supervisor_calls_active") in (0.0, None),
                settle_s,
                what="calls to end",
            )
        active = sup.metric("asterisk_supervisor_calls_active")
    except (OSError, ValueError):
        active = 0.0  # no /metrics at all: said below
    # calls_total comes from the call record, folded about a second after a call ends (the
    # recorder's interval), so the last call may not be counted the moment AMI says it ended:
    # wait (bounded) for the count to reach the calls placed before reading it.
    with contextlib.suppress(TimeoutError, OSError, ValueError):
        wait_until(
            lambda: sum(counted(sup).values()) >= placed,
            settle_s,
            what="the record to count the calls",
        )
    by_outcome = counted(sup)
    total = sum(by_outcome.values())
    outcomes = ", ".join(f"{n:.0f} {o}" for o, n in by_outcome.items()) or "none"
    say(
        f"summary: {placed} doorbell calls placed ({answered_by_sipp} answered by sipp's "
        f"account), {total:.0f} counted by the supervisor's metrics ({outcomes})"
    )
    notes = []
    if not by_outcome and placed:
        notes.append("the supervisor's /metrics did not answer (it may have exited: see its log)")
    if active and active > 0:
        notes.append(
            f"{active:.0f} call(s) still active in the supervisor's view after {settle_s:g} s"
        )
    elif active is None:
        notes.append("AMI is not connected now, so active calls are unknown")
    if by_outcome.get("lost"):
        notes.append(
            f"{by_outcome['lost']:.0f} call(s) ended while the supervisor could not see their "
            "end (AMI down, Asterisk frozen or restarted): counted as lost at the re-sync"
        )
    if by_outcome and total < placed:
        notes.append(
            f"{placed - total:.0f} call(s) never reached the supervisor's view (refused or "
            "failed before Asterisk created a channel, e.g. while it restarted)"
        )
    if total > placed:
        notes.append(f"{total - placed:.0f} call(s) came from elsewhere (phones, another client)")
    for note in notes:
        say(f"  difference: {note}")
    if not notes:
        say("  every placed call was counted, each once")
    if audio is not None:
        try:
            say(f"  {audio()}")
        except (OSError, ValueError) as exc:
            say(f"  audio: unknown ({exc})")


def swap(args: argparse.Namespace) -> int:
    """Publish SOURCE_DIR's files into MOUNT_DIR the way kubelet updates a ConfigMap volume."""
    source = Path(args.source)
    files = {p.name: p.read_bytes() for p in sorted(source.iterdir()) if p.is_file()}
    new = write_mount(Path(args.mount), files)
    print(f"published {len(files)} file(s) into {args.mount} (..data -> {new.name})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=0,
        help="stop after N doorbell calls (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between doorbell calls (default 5)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8080,
        help="host loopback port for /status and /metrics (default 8080, "
        "another free one if taken)",
    )
    sub = parser.add_subparsers(dest="command")
    p_swap = sub.add_parser("swap", help="publish a directory into a mount, kubelet-style")
    p_swap.add_argument("mount")
    p_swap.add_argument("source")
    args = parser.parse_args()
    if args.command == "swap":
        return swap(args)
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
