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
from lab.asterisk import write_config
from supervisor.app import (
    AmiSlice,
    RecordsSlice,
    build_core,
    build_records,
    create_record,
    record_store,
)
from supervisor.records.recorder import Recorder
from supervisor.render import records


class RecordPbx(AmiLab):
    def __init__(self, rootfs: Path, *, stale_s: float = 2.0) -> None:
        super().__init__(rootfs)
        modules = (self.run.path("etc") / "modules.conf").read_text()
        modules += "".join(f"load = {m}\n" for m in records.MODULES)
        write_config(
            self.run,
            {
                "modules.conf": modules,
                "cel.conf": records.render_cel(),
                "cel_sqlite3_custom.conf": records.render_cel_sqlite(self.core.context.directories),
            },
        )
        # The product's record file (supervisor.app), created before Asterisk opens it.
        self.store = record_store(self.core)
        create_record(self.core, self.store)
        self.stale_s = stale_s
        self.records: RecordsSlice | None = None
        self._recorder_task: asyncio.Task[Any] | None = None
        #: Counts of recorders that were stopped (earlier supervisor processes).
        self.earlier: list[dict[tuple[str, str, str], int]] = []

    @property
    def recorder(self) -> Recorder:
        """The current supervisor process's recorder (once start_supervisor() ran)."""
        assert self.records is not None, "start_supervisor() first"
        return self.records.recorder

    def counting(self, ami: AmiSlice) -> None:
        """The product's records slice (supervisor.app.build_records) on this process's core
        and AMI slice, folding once a second and declaring calls lost after `stale_s`; its
        recorder's task."""
        self.records = build_records(self.core, ami, interval_s=1.0, stale_s=self.stale_s)
        self.records.recorder.set_trunks(TRUNKS)
        self._recorder_task = asyncio.create_task(self.records.recorder.run(), name="records")

    def start_supervisor(self) -> None:
        super().start_supervisor()
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
        """A new process: the product's core, AMI and records slices built anew (counts from
        zero); `value()` reads the new registry."""
        assert self.client is not None
        login = self.client.settings

        async def start() -> None:
            self.core = build_core(self.core.settings)
            self.registry = self.core.registry
            self._start_slices(login)

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
