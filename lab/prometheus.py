"""Debian's prometheus server for tests: own config, own TSDB directory, a free loopback port,
optionally inside a lab namespace (to scrape the pod)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.netns import Lab, call_in
from lab.rootfs import ensure_host_tool


def free_port(ns: str | None = None) -> int:
    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    return call_in(ns, pick) if ns else pick()


def http_get(url: str, ns: str | None = None, timeout: float = 5.0) -> bytes:
    """GET from the host, or from inside a lab namespace."""

    def get() -> bytes:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bytes(resp.read())

    return call_in(ns, get) if ns else get()


@dataclass
class Prometheus:
    scrape_config: str
    lab: Lab | None = None
    host: str = "pod"
    port: int = 0
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="asb-prom-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def ns(self) -> str | None:
        return self.lab.ns(self.host) if self.lab else None

    def start(self) -> Prometheus:
        ensure_host_tool("prometheus", "prometheus")
        self.port = self.port or free_port(self.ns)
        config = self.workdir / "prometheus.yml"
        config.write_text(self.scrape_config)
        argv = [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir}/data",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        if self.lab:
            argv = self.lab.netns_exec(self.host, argv)
        with open(self.workdir / "prometheus.log", "ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.get("/-/ready")
                return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready: {self.log()[-2000:]}")

    def get(self, path: str) -> bytes:
        return http_get(f"http://127.0.0.1:{self.port}{path}", self.ns)

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        return json.loads(self.get(f"/api/v1/{path}?{query}"))["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def log(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)
