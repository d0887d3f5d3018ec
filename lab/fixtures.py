"""pytest fixtures for the lab: a root filesystem, namespaces, run directories and processes.

Every fixture tears down in a `finally`, and each run's names carry its PID so that a run killed
before teardown is swept by the next one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab import minimal, netns, required, sipp
from lab.ami import LabAmi
from lab.asterisk import Asterisk, RunDir, sweep_stale_runs, write_config
from lab.netns import Lab
from lab.rootfs import ensure_rootfs


def require_root() -> None:
    """Lab tests skip without root, and fail without it under CI (lab.required)."""
    required.root()


@pytest.fixture(scope="session")
def rootfs() -> Path:
    """The cached Debian sid root filesystem with Asterisk and sipp (built on first use)."""
    require_root()
    netns.sweep_stale()
    tree = ensure_rootfs()
    sweep_stale_runs(tree)
    return tree


@pytest.fixture
def lab(rootfs: Path) -> Iterator[Lab]:
    """A fresh pod/provider/doorbell/router network for one test."""
    the_lab = Lab()
    try:
        yield the_lab.up()
    finally:
        the_lab.down()


@pytest.fixture
def run_dir(rootfs: Path, lab: Lab) -> Iterator[RunDir]:
    run = RunDir(rootfs, f"{lab.prefix}-run").create()
    try:
        yield run
    finally:
        run.remove()


class Started:
    """What a test started: stopped in reverse order at teardown."""

    def __init__(self) -> None:
        self.stoppers: list[Callable[[], object]] = []

    def add(self, stop: Callable[[], object]) -> None:
        self.stoppers.append(stop)

    def stop_all(self) -> None:
        errors = []
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception as exc:  # keep tearing down; report the first problem after
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
def started() -> Iterator[Started]:
    s = Started()
    try:
        yield s
    finally:
        s.stop_all()


class MinimalPbx:
    """The lab's hand-written minimal config running in the pod (until the renderer exists)."""

    def __init__(self, lab: Lab, run: RunDir, started: Started) -> None:
        self.lab, self.run, self.started = lab, run, started
        self.ami_user = "lab"
        self.ami_secret = secrets.token_hex(16)
        self.trunk_user = "pod1"
        self.trunk_password = secrets.token_hex(8)
        write_config(
            run,
            minimal.config(
                run, self.ami_user, self.ami_secret, self.trunk_user, self.trunk_password
            ),
        )
        self.asterisk = Asterisk(lab, run)
        self.ami: LabAmi | None = None

    def start(self) -> MinimalPbx:
        self.asterisk.start()
        self.started.add(self.asterisk.stop)
        self.ami = LabAmi(self.lab.pod, self.ami_user, self.ami_secret)
        self.started.add(self.ami.close)
        self.ami.connect()
        self.ami.wait_fully_booted()
        return self

    def registrar(self) -> sipp.Sipp:
        reg = sipp.registrar(
            self.lab, self.run, netns.PROVIDER_V6, self.trunk_user, self.trunk_password
        )
        self.started.add(reg.stop)
        return reg


@pytest.fixture
def minimal_pbx(lab: Lab, run_dir: RunDir, started: Started) -> MinimalPbx:
    return MinimalPbx(lab, run_dir, started)
