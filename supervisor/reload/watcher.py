"""One watchdog observer over every mount directory; each event is only a hint to the loop.

Kubelet swaps the `..data` symlink inside the mount directory (file mtimes need not change), so the
directories themselves are watched, not the files. Events cross from watchdog's thread to the
event loop with `call_soon_threadsafe`. When inotify is out of instances or watches
(EMFILE/ENOSPC), a polling observer takes over and the fallback is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from supervisor.reload.metrics import ReloadMetrics

log = logging.getLogger(__name__)

# Our own reads of the mounts open and close them: those are not changes.
IGNORED = frozenset({"opened", "closed_no_write"})
INOTIFY_LIMITS = (errno.EMFILE, errno.ENOSPC)

ObserverFactory = Callable[[], Any]


class _Handler(FileSystemEventHandler):
    def __init__(self, loop: asyncio.AbstractEventLoop, hint: Callable[[], None]) -> None:
        self._loop = loop
        self._hint = hint

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in IGNORED:
            return
        # RuntimeError: the loop closed while the observer was stopping.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._hint)


class MountWatcher:
    """Watches `paths` (non-recursively) and calls `hint()` on `loop` for every change event."""

    def __init__(
        self,
        *,
        paths: Sequence[Path],
        loop: asyncio.AbstractEventLoop,
        hint: Callable[[], None],
        metrics: ReloadMetrics,
        observer_factory: ObserverFactory = Observer,
        polling_interval: float = 1.0,
    ) -> None:
        self.paths = tuple(paths)
        self._handler = _Handler(loop, hint)
        self._metrics = metrics
        self._observer_factory = observer_factory
        self._polling_interval = polling_interval
        self._observer: Any = None
        self.mode = "stopped"

    def _schedule(self, observer: Any) -> None:
        for path in self.paths:
            if not path.is_dir():
                log.warning("mount %s is not a directory; watching it is left to the resync", path)
                continue
            observer.schedule(self._handler, str(path), recursive=False)

    def start(self) -> str:
        """Start watching; returns "inotify" or "polling"."""
        observer: Any = None
        try:
            observer = self._observer_factory()
            self._schedule(observer)
            observer.start()
            self.mode = "inotify"
        except OSError as exc:
            if observer is not None:
                # Emitters started before the failing one, and the observer's inotify reader,
                # would keep running: stop() (never started, so no join) tears them down.
                with contextlib.suppress(Exception):
                    observer.stop()
            reason = errno.errorcode.get(exc.errno or 0, str(exc))
            if exc.errno in INOTIFY_LIMITS:
                log.warning("inotify unavailable (%s): polling the mounts instead", reason)
            else:
                log.warning("watching the mounts failed (%s): polling instead", exc)
            self._metrics.polling_fallbacks.inc()
            observer = PollingObserver(timeout=self._polling_interval)
            self._schedule(observer)
            observer.start()
            self.mode = "polling"
        observer.name = f"reload-watch-{self.mode}"
        self._observer = observer
        return self.mode

    def stop(self, timeout: float = 5.0) -> None:
        if self._observer is None:
            return
        self._observer.stop()
        self._observer.join(timeout)
        self._observer = None
        self.mode = "stopped"
