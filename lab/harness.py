"""What every module-scoped lab harness starts with: its own namespaces and run directory, and a
list of stoppers run in reverse order at `close()` (every one of them, even after a failure)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

from lab.asterisk import RunDir, directories_section
from lab.netns import Lab
from supervisor.settings import AsteriskPaths, Settings


class LabHarness:
    def __init__(self, rootfs: Path) -> None:
        self.stoppers: list[Callable[[], object]] = []
        self.lab = Lab()
        self.lab.up()
        self.stoppers.append(self.lab.down)
        self.run = RunDir(rootfs, f"{self.lab.prefix}-run").create()
        self.stoppers.append(self.run.remove)

    def settings(self, config: tuple[Path, ...] = (), secrets: tuple[Path, ...] = ()) -> Settings:
        """The supervisor's settings for this run: Asterisk's directories inside the root
        filesystem (as asterisk.conf names them), run as its `asterisk` user; what a harness
        gives the product's slice builders (supervisor/app.py) instead of wiring parts itself."""
        run = self.run
        directories = {k: PurePosixPath(v) for k, v in directories_section(run).items()}
        paths = AsteriskPaths(
            root=run.rootfs,
            etc=directories["astetcdir"],
            run=directories["astrundir"],
            log=directories["astlogdir"],
            spool=directories["astspooldir"],
            lib=directories["astvarlibdir"],
            db=directories["astdbdir"],
        )
        return Settings(
            config_dirs=config, secret_dirs=secrets, asterisk=paths, asterisk_user="asterisk"
        )

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
