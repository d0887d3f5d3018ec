"""The AMI lab PBX (lab.amipbx) with the call record: Asterisk writes CEL to the record's SQLite
file as the product renders it (supervisor/render/records.py), and the product's recorder folds
and counts it on the supervisor's loop. `stop_supervisor()` then `start_new_supervisor()` replace
the AMI slice and the recorder by new ones on the same record while Asterisk keeps running (what
a supervisor restart in sidecar mode does); `kill_asterisk()` is kill -9 and a new Asterisk on
the same directories."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from lab.amipbx import TRUNKS, AmiLab
from lab.asterisk import directories_section, write_config
from lab.rootfs import asterisk_ids
from supervisor.app import build_ami, build_core
from supervisor.metrics.asterisk import AsteriskCollector
from supervisor.records import schema
from supervisor.records.recorder import Recorder
from supervisor.records.store import RecordStore
from supervisor.render import records
from supervisor.render.context import Directories
from supervisor.settings import Settings


class RecordPbx(AmiLab):
    def __init__(self, rootfs: Path, *, stale_s: float = 2.0) -> None:
        super().__init__(rootfs)
        directories = Directories.from_mapping(directories_section(self.run))
        modules = (self.run.path("etc") / "modules.conf").read_text()
        modules += "".join(f"load = {m}\n" for m in records.MODULES)
        write_config(
            self.run,
            {
                "modules.conf": modules,
                "cel.conf": records.render_cel(),
                "cel_sqlite3_custom.conf": records.render_cel_sqlite(directories),
            },
        )
        self.store = RecordStore(self.run.path("spool") / schema.RELATIVE_PATH)
        self.store.create(asterisk_ids(rootfs))
        self.stale_s = stale_s
        self.recorder = self._recorder()
        self._recorder_task: asyncio.Task[Any] | None = None
        #: Counts of recorders that were stopped (earlier supervisor processes).
        self.earlier: list[dict[tuple[str, str, str], int]] = []

    def _recorder(self) -> Recorder:
        def live() -> frozenset[str] | None:
            if self.ami is None:
                return None
            state = self.state  # the current process's AMI state
            return frozenset(state.calls.active) if state.live else None

        recorder = Recorder(store=self.store, live=live, interval_s=1.0, stale_s=self.stale_s)
        recorder.set_trunks(TRUNKS)
        return recorder

    def start_supervisor(self) -> None:
        super().start_supervisor()
        assert self.client is not None
        self.client.on_boot(self.recorder.hint)
        self.client.subscribe("Hangup", self.recorder.hint)

        async def start() -> None:
            self._recorder_task = asyncio.create_task(self.recorder.run(), name="records")

        self.loop.run(start(), 10)
        self.stoppers.append(lambda: self.loop.run(self._stop_recorder(), 10))

    async def _stop_recorder(self) -> None:
        if self._recorder_task is not None:
            self._recorder_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recorder_task
            self._recorder_task = None

    def stop_supervisor(self) -> None:
        """The supervisor process ends: its AMI session, state and recorder are gone."""
        self.loop.run(self._stop_recorder(), 10)
        self.loop.run(self._stop_client(), 10)
        self.earlier.append(dict(self.recorder.counts))

    async def _stop_client(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def start_new_supervisor(self) -> None:
        """A new process: the product's core and AMI slice built anew, a new recorder (counts
        from zero); `value()` reads the new registry."""
        self.recorder = self._recorder()

        async def start() -> None:
            assert self.client is not None
            settings = self.client.settings
            self.core = build_core(Settings(config_dirs=()))
            self.registry = self.core.registry
            self.ami = build_ami(self.core, settings)
            self.ami.state.calls.set_trunks(TRUNKS)
            AsteriskCollector.register(self.registry, self.ami.state)
            self.client = self.ami.client
            self.client.on_boot(self.recorder.hint)
            self.client.subscribe("Hangup", self.recorder.hint)
            self._task = asyncio.create_task(self.client.run(), name="ami")
            self._recorder_task = asyncio.create_task(self.recorder.run(), name="records")

        self.loop.run(start(), 10)

    def counts(self) -> dict[tuple[str, str, str], int]:
        """Every process's recorder counts, summed (what Prometheus' increase() adds up)."""
        now = self.on_loop(lambda: dict(self.recorder.counts))
        total: dict[tuple[str, str, str], int] = {}
        for counts in (*self.earlier, now):
            for key, value in counts.items():
                total[key] = total.get(key, 0) + value
        return total

    def kill_asterisk(self) -> None:
        """kill -9, then a new Asterisk on the same directories (and record)."""
        os.kill(self.asterisk.pid, signal.SIGKILL)
        assert self.asterisk.process is not None
        self.asterisk.process.wait(10)
        self.asterisk.start()
