"""The supervisor as a real process in the pod namespace, as the container's entrypoint would run:
`ip netns exec <pod> python -m supervisor run ...` with Asterisk chrooted into the lab tree."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import proc
from lab.asterisk import RunDir
from lab.kubelet import write_mount
from lab.netns import Lab
from lab.paths import REPO
from lab.prometheus import free_port, http_get
from supervisor.process.malloc import RUN_ENVIRONMENT


def read_dir(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(path.iterdir()) if p.is_file()}


@dataclass
class SupervisorRun:
    """Mounts (kubelet-style) under the run directory, the supervisor process, HTTP helpers."""

    lab: Lab
    run: RunDir
    site: Mapping[str, str]
    secrets: Mapping[str, str]
    extra_args: list[str] = field(default_factory=list)
    #: What the interpreter runs, before `run ...`: the supervisor, or a bench wrapper around it
    #: (bench/memprobe.py: `-m bench.memprobe --out DIR --`).
    launcher: list[str] = field(default_factory=lambda: ["-m", "supervisor"])
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    # The pod's fsGroup: when set, the mounts are written as the Deployment asks kubelet to
    # (ConfigMap 0444, Secret 0440 owned by this group), for a process that does not run as root.
    fs_group: int | None = None
    # A restarted supervisor (or pod) on the mounts as they are: `site` and `secrets` unwritten.
    keep_mounts: bool = False

    def __post_init__(self) -> None:
        self.config_mount = self.run.host / "mounts" / "site"
        self.secret_mount = self.run.host / "mounts" / "secrets"
        self.log = self.run.path("log") / "supervisor.out"
        if self.keep_mounts:
            return
        if self.fs_group is None:
            write_mount(self.config_mount, dict(self.site))
            write_mount(self.secret_mount, dict(self.secrets), mode=0o600)
        else:
            write_mount(self.config_mount, dict(self.site), mode=0o444, group=self.fs_group)
            write_mount(self.secret_mount, dict(self.secrets), mode=0o440, group=self.fs_group)

    def argv(self) -> list[str]:
        inside = self.run.inside
        return self.lab.netns_exec(
            "pod",
            [
                sys.executable,
                *self.launcher,
                "run",
                "--config",
                str(self.config_mount),
                "--secrets",
                str(self.secret_mount),
                "--asterisk-root",
                str(self.run.rootfs),
                "--asterisk-etc",
                inside(self.run.path("etc")),
                "--asterisk-run",
                inside(self.run.path("run")),
                "--asterisk-log",
                inside(self.run.path("log")),
                "--asterisk-spool",
                inside(self.run.path("spool")),
                "--asterisk-lib",
                inside(self.run.path("lib")),
                "--asterisk-db",
                inside(self.run.path("db")),
                "--asterisk-user",
                "asterisk",
                "--http-listen",
                f"127.0.0.1:{self.port}",
                *self.extra_args,
            ],
        )

    def start(self) -> SupervisorRun:
        self.port = self.port or free_port(self.lab.pod)
        # The environment the image runs it with (its allocator: supervisor/process/malloc.py).
        self.process = proc.spawn(self.argv(), self.log, cwd=REPO, env=RUN_ENVIRONMENT)
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            body = http_get(f"http://127.0.0.1:{self.port}{path}", self.lab.pod)
            return 200, body.decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def ready(self) -> bool:
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.get("/status?format=json")[1]))

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds until /readyz answered 200."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"supervisor exited {self.process.returncode}:\n{self.output()}")
            if self.ready():
                return time.monotonic() - start
            time.sleep(0.05)
        try:
            status = self.get("/status")[1]
        except OSError as exc:  # the log below says more than a refused connection
            status = f"(no /status: {exc})"
        raise TimeoutError(f"not ready after {timeout} s:\n{status}\n{self.output()[-3000:]}")

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        from prometheus_client.parser import text_string_to_metric_families

        text = self.get("/metrics")[1]
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in (labels or {}).items()
                ):
                    return float(sample.value)
        return None

    def update_site(self, site: Mapping[str, str]) -> None:
        if self.fs_group is None:
            write_mount(self.config_mount, dict(site))
        else:
            write_mount(self.config_mount, dict(site), mode=0o444, group=self.fs_group)

    def update_secrets(self, secrets: Mapping[str, str]) -> None:
        if self.fs_group is None:
            write_mount(self.secret_mount, dict(secrets), mode=0o600)
        else:
            write_mount(self.secret_mount, dict(secrets), mode=0o440, group=self.fs_group)

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> int | None:
        # 40 s: a drain with calls in progress may take most of it.
        return proc.stop(self.process, 40)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
