from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from lab.kubelet import write_mount
from supervisor.reload import Applier, ConfigDir, ReloadMetrics
from tests.supervisor.reload import standin
from tests.supervisor.reload.fakes import FakeAsterisk


class Rig:
    """Two kubelet-style mounts, an Asterisk config dir, an applier and a fake Asterisk."""

    def __init__(self, root: Path) -> None:
        self.site = root / "site"
        self.secrets = root / "secrets"
        self.etc = root / "etc"
        self.etc.mkdir()
        self.registry = CollectorRegistry()
        self.metrics = ReloadMetrics(self.registry)
        self.asterisk = FakeAsterisk(self.etc)
        self.restarts: list[tuple[str, ...]] = []
        write_mount(self.site, {"site.yaml": standin.site_yaml(["alice"])})
        write_mount(self.secrets, {"trunk-password": "pw1"}, mode=0o600)
        self.applier = Applier(
            config_mounts=[self.site],
            secret_mounts=[self.secrets],
            config_dir=ConfigDir(self.etc),
            load=standin.load,
            render=standin.render,
            ami=self.asterisk,
            metrics=self.metrics,
            restart_check=standin.restart_required,
            on_restart_required=self.restarts.append,
            max_file_bytes=64 * 1024,
        )

    def start(self) -> Rig:
        self.applier.prepare()
        self.asterisk.boot()
        self.applier.asterisk_started()
        return self

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.registry.get_sample_value(name, labels or {})

    def swap_site(self, *args: object, **kwargs: object) -> None:
        write_mount(self.site, {"site.yaml": standin.site_yaml(*args, **kwargs)})  # type: ignore[arg-type]


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


RigFactory = Callable[[], Rig]
