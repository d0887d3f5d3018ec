"""The life cycle of the built parts (app.build): HTTP up first (it only reads), the named tasks
in a TaskGroup, the gated ones once the pod's required addresses are usable; signal handlers only
set events; one shutdown path (process/shutdown.py); the exit status says how it ended.

Exit status: 0 after a clean shutdown, 1 when start-up failed (one line says why), 3 when
Asterisk crash-looped (Kubernetes restarts the pod).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time

from prometheus_client import disable_created_metrics

from supervisor import http, logs
from supervisor.addresses.monitor import AddressesNotUsable
from supervisor.app import Parts, build
from supervisor.health import add_health_routes
from supervisor.page import add_page_route
from supervisor.process.asterisk import CrashLoop
from supervisor.process.console import reload_manager_config
from supervisor.process.malloc import one_arena, pin_large_blocks_to_mmap, python_allocator
from supervisor.process.reaper import become_subreaper
from supervisor.process.shutdown import Stopped
from supervisor.records.web import add_calls_route
from supervisor.reload import StartupError
from supervisor.settings import Mode, Settings
from supervisor.storage import PersistenceError
from supervisor.tasks import start_all

log = logging.getLogger("supervisor")

EXIT_OK = 0
EXIT_STARTUP = 1
EXIT_CRASH_LOOP = 3

#: Start-up failures: one line to the operator, exit status 1.
STARTUP_ERRORS: tuple[type[Exception], ...] = (StartupError, PersistenceError, AddressesNotUsable)
#: What ends the supervisor on purpose (tasks pass them on without a traceback).
ENDINGS: tuple[type[Exception], ...] = (Stopped, CrashLoop, *STARTUP_ERRORS)


async def start(parts: Parts, tg: asyncio.TaskGroup) -> None:
    """The start-up sequence; the gated tasks start once the required addresses are usable."""
    start_all(tg, parts.tasks, ENDINGS)
    settings = parts.settings
    if settings.mode is Mode.SIDECAR:
        # Asterisk may outlive us: make it read this boot's AMI secret.
        await reload_manager_config(
            settings.asterisk.remote_argv("manager reload"), parts.core.reaper
        )
    await parts.addresses.monitor.gate(settings.address_timeout_s)
    log.info("required addresses usable after %.2f s", time.monotonic() - parts.core.started_at)
    start_all(tg, parts.gated_tasks, ENDINGS)


def install_signals(parts: Parts) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, parts.process.shutdown.on_signal, sig.name)
    # SIGHUP: re-read the mounts now (the usual meaning of SIGHUP for a daemon).
    loop.add_signal_handler(signal.SIGHUP, parts.reload.reloader.hint)


async def run(parts: Parts) -> int:
    install_signals(parts)
    become_subreaper()
    settings = parts.settings
    app = http.make_app(parts.core.registry, settings.http_allow)
    add_health_routes(app, parts.core.board, parts.heartbeat)
    add_calls_route(app, parts.records.recorder.store)
    add_page_route(
        app, parts.core.board, parts.records.recorder.store, parts.ami.mailboxes.counts.counts
    )
    runner = await http.start(app, settings.http_host, settings.http_port)
    where = f"[{settings.http_host}]:{settings.http_port}"
    log.info("HTTP on %s: / /healthz /readyz /status /metrics /calls", where)
    code = EXIT_OK
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(start(parts, tg), name="start")
    except* Stopped:
        pass
    except* STARTUP_ERRORS as failures:
        for failure in failures.exceptions:
            log.error("start-up failed: %s", failure)
        code = EXIT_STARTUP
    except* CrashLoop as crashes:
        for crash in crashes.exceptions:
            log.error("%s", crash)
        code = EXIT_CRASH_LOOP
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(runner.cleanup())
    return code


async def _main(settings: Settings) -> int:
    try:
        parts = build(settings)
    except STARTUP_ERRORS as failure:
        log.error("start-up failed: %s", failure)
        return EXIT_STARTUP
    # What start-up made (modules, the parts; ~80,000 objects) lives as long as the process:
    # out of the garbage collector's full collections, each of which scanned it all and held
    # the event loop meanwhile (under a flood of new sources they come every few seconds:
    # docs/security.md, "Staying responsive under a flood").
    gc.freeze()
    return await run(parts)


def main(settings: Settings) -> int:
    # No `_created` series: they double the exposition and no dashboard or alert reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    # Before anything large is allocated: RSS stays flat under a steady load (process/malloc.py).
    pin_large_blocks_to_mmap()
    one_arena()  # before the first thread: to_thread workers would each get a heap of their own
    logs.configure(settings.log_format, settings.log_level)
    log.info("asterisk-supervisor starting (%s mode)", settings.mode.value)
    log.info("Python objects: %s", python_allocator())
    return asyncio.run(_main(settings))
