from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from lab import sites
from lab.kubelet import write_mount
from supervisor.reload import (
    AmiReload,
    Applier,
    ConfigBuilder,
    ConfigDir,
    Mounts,
    ReloadMetrics,
    RestartReason,
)
from supervisor.reload.lastgood import LastGood
from tests.supervisor.reload.fakes import FakeAsterisk


class Rig:
    """Two kubelet-style mounts, an Asterisk config dir, the real site loader and renderer, an
    applier and a fake Asterisk."""

    def __init__(self, root: Path, build: ConfigBuilder | None = None) -> None:
        self.build = build
        self.last_good = LastGood(root / "spool" / "supervisor" / "last-good.json")
        self.site = root / "site"
        self.secrets = root / "secrets"
        self.etc = root / "etc"
        self.etc.mkdir()
        self.registry = CollectorRegistry()
        self.metrics = ReloadMetrics(self.registry)
        self.asterisk = FakeAsterisk(self.etc)
        self.restarts: list[tuple[RestartReason, ...]] = []
        self.swap_site(sites.home())
        self.swap_secrets(sites.secrets())
        self.applier = self._applier()

    def _applier(self) -> Applier:
        return Applier(
            mounts=Mounts(config=(self.site,), secrets=(self.secrets,), max_file_bytes=64 * 1024),
            config_dir=ConfigDir(self.etc),
            build=self.build or sites.builder(sites.context()),
            asterisk=AmiReload(self.asterisk),
            metrics=self.metrics,
            on_restart_required=self.restarts.append,
            last_good=self.last_good,
        )

    def restart_supervisor(self) -> Rig:
        """A new supervisor process on the same mounts, config dir and volume (fresh metrics);
        the (fake) Asterisk runs on, as in sidecar mode."""
        self.registry = CollectorRegistry()
        self.metrics = ReloadMetrics(self.registry)
        self.applier = self._applier()
        return self

    def start(self) -> Rig:
        self.applier.prepare()
        self.asterisk.boot()
        self.applier.asterisk_started()
        return self

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.registry.get_sample_value(name, labels or {})

    def swap_site(self, site: dict[str, Any]) -> None:
        write_mount(self.site, sites.site_files(site))

    def swap_secrets(self, values: dict[str, str]) -> None:
        write_mount(self.secrets, values, mode=0o600)

    def text(self, name: str) -> str:
        return (self.etc / name).read_text()


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)
