"""`python -m lab`: bring up the lab network, a sipp registrar as the provider, and Asterisk in the
pod with the lab's minimal config; print where things are; Ctrl-C tears everything down."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from lab import netns
from lab.asterisk import RunDir, sweep_stale_runs, wait_until
from lab.fixtures import MinimalPbx, Started
from lab.netns import Lab
from lab.rootfs import ensure_rootfs


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    parser.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    netns.sweep_stale()
    rootfs = ensure_rootfs()
    sweep_stale_runs(rootfs)
    lab = Lab()
    started = Started()
    run = RunDir(rootfs, f"{lab.prefix}-run")
    try:
        lab.up()
        run.create()
        pbx = MinimalPbx(lab, run, started)
        pbx.registrar()
        t0 = time.monotonic()
        pbx.start()
        print(
            f"lab: Asterisk fully booted in the pod namespace {lab.pod} "
            f"({time.monotonic() - t0:.2f} s); pod addresses {netns.POD_V6}, {netns.POD_V4}"
        )
        print(f"lab: Asterisk log: {pbx.asterisk.console_log}")
        assert pbx.ami is not None
        ami = pbx.ami

        def registered() -> bool:
            reply = ami.action({"Action": "PJSIPShowRegistrationsOutbound"})
            return any(m.get("Status") == "Registered" for m in reply)

        wait_until(registered, 20, interval=0.5, what="trunk registration")
        print(
            f"lab: trunk registered at the provider [{netns.PROVIDER_V6}]:5060 "
            f"after {time.monotonic() - t0:.1f} s"
        )
        print(
            f"lab: try  ip netns exec {lab.pod} chroot {rootfs} asterisk -r "
            f"-C {run.inside(run.path('etc') / 'asterisk.conf')}"
        )
        print("lab: running; Ctrl-C to stop and tear down")
        stop.wait(args.seconds or None)
        return 0
    finally:
        started.stop_all()
        run.remove()
        lab.down()
        print("lab: torn down", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
