"""What every module-scoped lab harness starts with: its own namespaces and run directory, and a
list of stoppers run in reverse order at `close()` (every one of them, even after a failure)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lab.asterisk import RunDir
from lab.netns import Lab


class LabHarness:
    def __init__(self, rootfs: Path) -> None:
        self.stoppers: list[Callable[[], object]] = []
        self.lab = Lab()
        self.lab.up()
        self.stoppers.append(self.lab.down)
        self.run = RunDir(rootfs, f"{self.lab.prefix}-run").create()
        self.stoppers.append(self.run.remove)

    def close(self) -> None:
        errors = []
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception as exc:  # keep tearing down
                errors.append(exc)
        self.stoppers.clear()
        if errors:
            raise errors[0]
