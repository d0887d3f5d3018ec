"""The lab network: pod, provider, doorbell and router namespaces joined by veth pairs.

Topology (documentation prefixes only; no link to the host's namespace or uplink):

    pod (2001:db8:e8b1::1:1/128, 203.0.113.10/32)
      |  eth0 ~ pod0
    router -- prov0 ~ eth0 -- provider (2001:db8:5060::10/128, IPv6 only)
      |  door0 ~ eth0
    doorbell (198.51.100.20/32, IPv4 only)
      |  scan0 ~ eth0
    scanner (2001:db8:bad::66/128, 198.51.100.66/32): a SIP scanner from another network

Like a Calico pod, each host reaches the router through a default route to a link-local next hop
(169.254.1.1, fe80::1) and holds a single /128 or /32; the router has one on-link host route per
address. Every namespace name starts with a per-run prefix that embeds the owner's PID, so parallel
runs never collide and a later run can sweep namespaces whose owner died.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

POD_V6 = "2001:db8:e8b1::1:1"
POD_V4 = "203.0.113.10"
PROVIDER_V6 = "2001:db8:5060::10"
DOORBELL_V4 = "198.51.100.20"
SCANNER_V6 = "2001:db8:bad::66"
SCANNER_V4 = "198.51.100.66"
GATEWAY_V4 = "169.254.1.1"
GATEWAY_V6 = "fe80::1"

HOSTS = ("pod", "provider", "doorbell", "scanner")
ROUTER = "router"
# Router-side interface names: pod0, prov0, door0 (15-character limit, names per netns).
ROUTER_SIDES = {"pod": "pod0", "provider": "prov0", "doorbell": "door0", "scanner": "scan0"}
NETNS_DIR = Path("/run/netns")
PREFIX_RE = re.compile(r"^asl(\d+)x(\d+)-")
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_counter = 0
_counter_lock = threading.Lock()


def new_prefix() -> str:
    """A name prefix unique on this machine: owner PID plus a per-process counter."""
    global _counter
    with _counter_lock:
        _counter += 1
        return f"asl{os.getpid()}x{_counter}"


def namespaces_with_prefix(prefix: str) -> list[str]:
    if not NETNS_DIR.exists():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix + "-"))


def pids_in(ns: str) -> list[int]:
    out = _ip("netns", "pids", ns, check=False).stdout.split()
    return [int(p) for p in out if p.isdigit()]


def asterisk_pids(ns: str) -> list[int]:
    """The Asterisk daemons (`asterisk -f`) running in the namespace; not a console's
    `asterisk -rx` (the hang watchdog runs one every few seconds)."""
    pids = []
    for pid in pids_in(ns):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a == b"asterisk" or a.endswith(b"/asterisk") for a in argv[:1]) and b"-f" in argv:
            pids.append(pid)
    return pids


def kill_all_in(ns: str, timeout: float = 5.0) -> None:
    """SIGTERM every process in the namespace, then SIGKILL what is left after timeout."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        pids = pids_in(ns)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and pids_in(ns):
            time.sleep(0.05)


def delete_namespace(ns: str) -> None:
    kill_all_in(ns)
    _ip("netns", "del", ns, check=False)


def sweep_stale() -> list[str]:
    """Delete lab namespaces whose owning process is gone (a run killed before its teardown)."""
    removed = []
    if not NETNS_DIR.exists():
        return removed
    for path in NETNS_DIR.iterdir():
        match = PREFIX_RE.match(path.name)
        if match and not _pid_alive(int(match.group(1))):
            delete_namespace(path.name)
            removed.append(path.name)
    return removed


@contextlib.contextmanager
def entered(ns: str) -> Iterator[None]:
    """Move the calling thread (only it) into the namespace; sockets made meanwhile stay there."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / ns, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns back from {ns}: {os.strerror(err)}")
    finally:
        os.close(own)
        os.close(target)


def call_in(ns: str, fn: Callable[..., T], *args: Any) -> T:
    """Run fn in a fresh thread inside the namespace (e.g. asyncio.run of an AMI client)."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            with entered(ns):
                result.append(fn(*args))
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{ns}", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


@dataclass
class Lab:
    """One run's namespaces. `up()` is idempotent; `down()` always leaves nothing behind."""

    prefix: str = field(default_factory=new_prefix)

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    @property
    def pod(self) -> str:
        return self.ns("pod")

    @property
    def provider(self) -> str:
        return self.ns("provider")

    @property
    def doorbell(self) -> str:
        return self.ns("doorbell")

    @property
    def scanner(self) -> str:
        return self.ns("scanner")

    @property
    def router(self) -> str:
        return self.ns(ROUTER)

    def netns_exec(self, host: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def run(
        self, host: str, argv: Sequence[str], check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.netns_exec(host, argv), check=check, capture_output=True, text=True
        )

    def exists(self) -> bool:
        return bool(namespaces_with_prefix(self.prefix))

    def up(self) -> Lab:
        if len(namespaces_with_prefix(self.prefix)) == len(HOSTS) + 1:
            return self
        self.down()
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def _build(self) -> None:
        r = self.router
        for host in (*HOSTS, ROUTER):
            _ip("netns", "add", self.ns(host))
            _ip("-n", self.ns(host), "link", "set", "lo", "up")
        self.run(
            ROUTER, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]
        )
        for host, rif in ROUTER_SIDES.items():
            peer = self.ns(host)
            _ip("-n", r, "link", "add", rif, "type", "veth", "peer", "name", "eth0", "netns", peer)
            _ip("-n", r, "addr", "add", f"{GATEWAY_V4}/32", "dev", rif)
            _ip("-n", r, "addr", "add", f"{GATEWAY_V6}/64", "dev", rif, "nodad")
            _ip("-n", r, "link", "set", rif, "up")
            _ip("-n", peer, "link", "set", "eth0", "up")
        # pod: dual-stack, both addresses as a Calico pool hands them out.
        self.add_address("pod", f"{POD_V6}/128")
        self.add_address("pod", f"{POD_V4}/32")
        self.default_routes("pod", v4=True, v6=True)
        _ip("-n", r, "-6", "route", "add", f"{POD_V6}/128", "dev", "pod0")
        _ip("-n", r, "route", "add", f"{POD_V4}/32", "dev", "pod0")
        # provider: the VoIP trunk, IPv6 only.
        self.add_address("provider", f"{PROVIDER_V6}/128")
        self.default_routes("provider", v4=False, v6=True)
        _ip("-n", r, "-6", "route", "add", f"{PROVIDER_V6}/128", "dev", "prov0")
        # doorbell: an IPv4-only SIP device.
        self.add_address("doorbell", f"{DOORBELL_V4}/32")
        self.default_routes("doorbell", v4=True, v6=False)
        _ip("-n", r, "route", "add", f"{DOORBELL_V4}/32", "dev", "door0")
        # scanner: a host on another network, dual-stack, that guesses passwords.
        self.add_address("scanner", f"{SCANNER_V6}/128")
        self.add_address("scanner", f"{SCANNER_V4}/32")
        self.default_routes("scanner", v4=True, v6=True)
        _ip("-n", r, "-6", "route", "add", f"{SCANNER_V6}/128", "dev", "scan0")
        _ip("-n", r, "route", "add", f"{SCANNER_V4}/32", "dev", "scan0")

    def add_address(self, host: str, cidr: str, dev: str = "eth0", nodad: bool = True) -> None:
        extra = ["nodad"] if nodad and ":" in cidr else []
        _ip("-n", self.ns(host), "addr", "replace", cidr, "dev", dev, *extra)

    def route(self, host: str, address: str) -> None:
        """The router sends `address` to `host` (as BGP advertises a pod's new address)."""
        family = "-6" if ":" in address else "-4"
        _ip("-n", self.router, family, "route", "replace", address, "dev", ROUTER_SIDES[host])

    def del_address(self, host: str, cidr: str, dev: str = "eth0") -> None:
        _ip("-n", self.ns(host), "addr", "del", cidr, "dev", dev)

    def default_routes(self, host: str, *, v4: bool, v6: bool) -> None:
        """Calico-style routes to the link-local gateway (idempotent). Removing a namespace's
        last IPv4 address flushes its IPv4 routes: re-adding the address, as CNI does, needs
        these again."""
        ns = self.ns(host)
        if v4:
            _ip("-n", ns, "route", "replace", f"{GATEWAY_V4}/32", "dev", "eth0", "scope", "link")
            _ip("-n", ns, "route", "replace", "default", "via", GATEWAY_V4, "dev", "eth0")
        if v6:
            _ip("-n", ns, "-6", "route", "replace", "default", "via", GATEWAY_V6, "dev", "eth0")

    def down(self) -> None:
        for ns in namespaces_with_prefix(self.prefix):
            delete_namespace(ns)

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()
