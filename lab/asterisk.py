"""A real Asterisk 22 from the lab root filesystem, running by chroot in the pod namespace.

Each instance gets its own directory inside the root filesystem (config, run, log, db, spool), so
two Asterisks from one tree never share asterisk.ctl, logs or astdb.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import proc
from lab.netns import PREFIX_RE, Lab, _pid_alive
from lab.rootfs import asterisk_ids

RUNS = Path("srv") / "asterisk-lab"
SUBDIRS = ("etc", "run", "log", "db", "spool", "lib", "spool/records")


def sweep_stale_runs(rootfs: Path) -> None:
    """Remove run directories left by a lab run whose process died before its teardown."""
    base = rootfs / RUNS
    if not base.exists():
        return
    for path in base.iterdir():
        match = PREFIX_RE.match(path.name)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class RunDir:
    """A directory inside the root filesystem; `inside()` maps a host path to the chroot's view."""

    rootfs: Path
    name: str
    host: Path = field(init=False)

    def __post_init__(self) -> None:
        self.host = self.rootfs / RUNS / self.name

    def create(self) -> RunDir:
        uid, gid = asterisk_ids(self.rootfs)
        self.host.mkdir(parents=True, exist_ok=True)
        os.chmod(self.host, 0o755)
        for sub in SUBDIRS:
            # spool/records: where the rendered cel_sqlite3_custom.conf keeps the call record
            # (the supervisor creates it in the product; configs booted without one need it).
            path = self.host / sub
            path.mkdir(exist_ok=True)
            if sub == "etc":
                os.chown(path, 0, gid)
                os.chmod(path, 0o750)
            else:
                os.chown(path, uid, gid)
        return self

    def path(self, sub: str) -> Path:
        return self.host / sub

    def inside(self, path: Path) -> str:
        return "/" + str(path.relative_to(self.rootfs))

    def remove(self) -> None:
        shutil.rmtree(self.host, ignore_errors=True)


def directories_section(run: RunDir) -> dict[str, str]:
    """asterisk.conf [directories] values (as seen inside the chroot) for this run."""
    return {
        "astetcdir": run.inside(run.path("etc")),
        "astmoddir": "/usr/lib/x86_64-linux-gnu/asterisk/modules",
        "astvarlibdir": "/var/lib/asterisk",
        "astdbdir": run.inside(run.path("db")),
        "astkeydir": "/var/lib/asterisk",
        "astdatadir": "/usr/share/asterisk",
        "astagidir": "/usr/share/asterisk/agi-bin",
        "astspooldir": run.inside(run.path("spool")),
        "astrundir": run.inside(run.path("run")),
        "astlogdir": run.inside(run.path("log")),
        "astsbindir": "/usr/sbin",
    }


def write_config(run: RunDir, files: dict[str, str]) -> None:
    """Write files 0640 root:asterisk: Asterisk drops to its own user and must read them."""
    _, gid = asterisk_ids(run.rootfs)
    etc = run.path("etc")
    for name, text in files.items():
        path = etc / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text)
        os.chown(tmp, 0, gid)
        os.chmod(tmp, 0o640)
        tmp.replace(path)


@dataclass
class Asterisk:
    """One Asterisk process: `ip netns exec <pod> chroot <rootfs> asterisk -f`."""

    lab: Lab
    run: RunDir
    host: str = "pod"
    process: subprocess.Popen[bytes] | None = None

    @property
    def console_log(self) -> Path:
        return self.run.path("log") / "console.out"

    def argv(self) -> list[str]:
        conf = self.run.inside(self.run.path("etc") / "asterisk.conf")
        return self.lab.netns_exec(
            self.host,
            ["chroot", str(self.run.rootfs), "/usr/sbin/asterisk", "-f", "-n", "-C", conf],
        )

    def start(self) -> Asterisk:
        self.process = proc.spawn(self.argv(), self.console_log)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by PID, SIGKILL after timeout; returns the exit status."""
        return proc.stop(self.process, timeout)

    def log_text(self) -> str:
        text = ""
        with contextlib.suppress(FileNotFoundError):
            text += self.console_log.read_text(errors="replace")
        with contextlib.suppress(FileNotFoundError):
            text += (self.run.path("log") / "messages.log").read_text(errors="replace")
        return text

    def problems(self) -> list[str]:
        """ERROR and WARNING lines Asterisk logged so far."""
        return [
            line for line in self.log_text().splitlines() if re.search(r"\b(ERROR|WARNING)\[", line)
        ]


def wait_until(predicate: object, timeout: float, interval: float = 0.1, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what or predicate}")
