"""The watcher and the loop: real inotify on temp dirs, kubelet swaps, polling fallback,
debounce, resync, and waiting for FullyBooted."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import threading
import time
from pathlib import Path

import pytest
from watchdog.events import FileSystemEvent
from watchdog.observers import Observer
from watchdog.observers.inotify import InotifyEmitter, InotifyObserver
from watchdog.observers.inotify_c import InotifyFD

from lab import sites
from lab.kubelet import write_mount, write_subpath_style
from supervisor.reload import Debouncer, Reloader
from supervisor.reload.watcher import MountWatcher
from supervisor.site.mounts import read_mount
from tests.supervisor.reload.conftest import Rig

EVENTS = "asterisk_supervisor_watch_events_total"


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"timed out waiting for {predicate}")


# Events our own reads of a file cause (inotify only): never a change. Spelled out here, not
# taken from the watcher, so a watcher that hints on them fails the tests below.
OWN_READS = frozenset({"opened", "closed_no_write"})


async def watch_one_swap(rig: Rig, factory: object | None = None) -> tuple[str, int]:
    """Watch the mounts through one kubelet swap and three snapshots of our own; returns the
    mode and the hints. Asserts, without waiting for "nothing to happen", that the snapshots
    caused no hint: once the watcher is stopped (no event can come any more) and the loop has
    run what the watcher's thread handed it, there is exactly one hint per event that is not
    one of our reads."""
    loop = asyncio.get_running_loop()
    hints: list[float] = []
    kwargs = {} if factory is None else {"observer_factory": factory}
    watcher = MountWatcher(
        paths=[rig.site, rig.secrets],
        loop=loop,
        hint=lambda: hints.append(loop.time()),
        metrics=rig.metrics,
        polling_interval=0.05,
        **kwargs,  # type: ignore[arg-type]
    )
    seen: list[tuple[str, str]] = []  # (event type, path), appended after the handler ran
    handler = watcher._handler
    dispatch = handler.dispatch

    def spy(event: FileSystemEvent) -> None:
        dispatch(event)  # any hint is handed to the loop before the event is listed
        seen.append((event.event_type, str(event.src_path)))

    handler.dispatch = spy  # type: ignore[method-assign]
    mode = watcher.start()  # the watches (or the first poll snapshot) exist once this returns
    try:
        # Same mtime as before: only the ..data swap tells.
        write_mount(rig.site, {"site.yaml": "endpoints: [x]\n"}, keep_mtime=1_000_000)
        await wait_for(lambda: hints)
        for _ in range(3):  # our own snapshots must not look like changes (no feedback loop)
            read_mount(rig.site)
        # A last change the watcher must see: every event before it has been handled by then.
        sentinel = rig.site / "sentinel"
        sentinel.mkdir()
        await wait_for(lambda: any(path == str(sentinel) for _, path in seen))
    finally:
        watcher.stop()
    await asyncio.sleep(0)  # run the hints the watcher's thread handed to the loop
    changes = [kind for kind, _ in seen if kind not in OWN_READS]
    assert len(hints) == len(changes), (len(hints), seen)
    return mode, len(hints)


async def test_reading_a_watched_file_is_no_change(tmp_path: Path, rig: Rig) -> None:
    """Opening and reading a file in a watched directory (inotify: opened, closed_no_write)
    gives no hint; writing it does, once the watcher has handled the events (no sleep)."""
    loop = asyncio.get_running_loop()
    hints: list[float] = []
    seen: list[str] = []
    watcher = MountWatcher(
        paths=[tmp_path], loop=loop, hint=lambda: hints.append(loop.time()), metrics=rig.metrics
    )
    dispatch = watcher._handler.dispatch

    def spy(event: FileSystemEvent) -> None:
        dispatch(event)
        seen.append(event.event_type)

    watcher._handler.dispatch = spy  # type: ignore[method-assign]
    (tmp_path / "site.yaml").write_text("a: 1\n")
    assert watcher.start() == "inotify"
    try:
        (tmp_path / "site.yaml").read_text()
        await wait_for(lambda: "closed_no_write" in seen)
        await asyncio.sleep(0)  # run what the watcher's thread handed to the loop
        assert hints == []
        (tmp_path / "site.yaml").write_text("a: 2\n")
        await wait_for(lambda: "closed" in seen)
    finally:
        watcher.stop()
    await asyncio.sleep(0)
    assert len(hints) == len([k for k in seen if k not in OWN_READS]) >= 1, seen


async def test_inotify_sees_a_kubelet_swap_with_unchanged_mtimes(rig: Rig) -> None:
    """A ..data swap in a watched mount reaches the loop as a hint through inotify."""
    mode, hints = await watch_one_swap(rig)
    assert mode == "inotify"
    assert hints >= 1


async def test_polling_fallback_when_inotify_is_exhausted(rig: Rig) -> None:
    """EMFILE from inotify switches to polling, counted, and swaps are still seen."""

    def exhausted() -> Observer:
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    mode, hints = await watch_one_swap(rig, exhausted)
    assert mode == "polling"
    assert hints >= 1
    assert rig.value("asterisk_supervisor_watch_polling_fallbacks_total") == 1


@pytest.mark.looptime
async def test_debounce_is_trailing() -> None:
    """A burst of hints (every 40 ms until 160 ms) settles once, exactly `quiet` (100 ms) after
    the last hint (virtual loop time)."""
    loop = asyncio.get_running_loop()
    debouncer = Debouncer(0.1)
    hints: list[float] = []

    async def burst() -> None:
        for _ in range(5):
            hints.append(loop.time())
            debouncer.hint()
            await asyncio.sleep(0.04)

    start = loop.time()
    task = asyncio.create_task(burst())
    assert await debouncer.wait(1.0)
    await debouncer.settle()
    settled = loop.time()
    await task
    assert [round(t - start, 6) for t in hints] == [0.0, 0.04, 0.08, 0.12, 0.16]
    assert settled - start == pytest.approx(0.26)


@pytest.mark.looptime
async def test_wait_times_out_for_resync() -> None:
    """Without hints, wait() returns False exactly after the resync interval; a hint within it
    returns True at the hint."""
    loop = asyncio.get_running_loop()
    debouncer = Debouncer(0.1)
    start = loop.time()
    assert not await debouncer.wait(30.0)
    assert loop.time() - start == pytest.approx(30.0)
    loop.call_later(12.0, debouncer.hint)
    assert await debouncer.wait(30.0)
    assert loop.time() - start == pytest.approx(42.0)


async def run_loop(
    rig: Rig, booted: asyncio.Event, **kwargs: float
) -> tuple[Reloader, asyncio.Task[None]]:
    reloader = Reloader(applier=rig.applier, booted=booted, **kwargs)
    task: asyncio.Task[None] = asyncio.create_task(reloader.run(), name="reload")  # type: ignore[arg-type]
    return reloader, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_loop_applies_a_swap_after_the_debounce(rig: Rig) -> None:
    """A ConfigMap swap goes live through the loop once the debounce has passed."""
    rig.start()
    booted = asyncio.Event()
    booted.set()
    _, task = await run_loop(rig, booted, debounce=0.05, resync=60)
    try:
        await asyncio.sleep(0.2)
        rig.swap_site(sites.home("dave"))
        await wait_for(lambda: "[dave]" in rig.text("pjsip.conf"))
        await wait_for(lambda: rig.value("asterisk_supervisor_last_reload_successful") == 1)
        assert (rig.value(EVENTS) or 0) >= 1
    finally:
        await stop(task)


async def test_changes_wait_for_fully_booted(rig: Rig) -> None:
    """Before FullyBooted nothing is reloaded and the state says pending; then it applies."""
    rig.start()
    booted = asyncio.Event()
    reloader, task = await run_loop(rig, booted, debounce=0.05, resync=60)
    try:
        rig.swap_site(sites.home("erin"))
        # `pending` is set as the loop starts waiting for FullyBooted: nothing can reload now.
        await wait_for(lambda: reloader.state.pending)
        assert rig.asterisk.reloads == []
        booted.set()
        await wait_for(lambda: rig.asterisk.reloads == ["res_pjsip.so"])
        assert not reloader.state.pending
    finally:
        await stop(task)


async def test_resync_catches_a_missed_change(rig: Rig, tmp_path: Path) -> None:
    """A change the watcher cannot see (a mount without ..data) is picked up by the resync, and
    such a mount is reported as not updating live."""
    plain = tmp_path / "plain-secrets"
    write_subpath_style(plain, sites.secrets())
    rig.applier.mounts = dataclasses.replace(rig.applier.mounts, secrets=(plain,))
    rig.start()
    booted = asyncio.Event()
    booted.set()
    reloader, task = await run_loop(rig, booted, debounce=0.05, resync=0.3)
    try:
        await wait_for(lambda: reloader.state.not_live == (str(plain),))
        (plain / "provider-password").write_text("pw9")
        await wait_for(lambda: "password = pw9" in rig.text("pjsip.conf"))
    finally:
        await stop(task)


class _SecondMountFails(InotifyEmitter):
    """inotify running out of watches on the second mount (ENOSPC), after the first started."""

    started = 0

    def on_thread_start(self) -> None:
        _SecondMountFails.started += 1
        if _SecondMountFails.started == 2:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        super().on_thread_start()


class _FailingObserver(InotifyObserver):
    def __init__(self) -> None:
        super().__init__()
        self._emitter_class = _SecondMountFails


async def test_partial_inotify_failure_leaves_no_emitter_running(rig: Rig) -> None:
    """When inotify fails on one mount, the emitters already started are stopped and polling
    takes over every mount."""

    def inotify_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if isinstance(t, InotifyEmitter | InotifyFD)}

    before = inotify_threads()
    _SecondMountFails.started = 0
    mode, hints = await watch_one_swap(rig, _FailingObserver)
    assert mode == "polling"
    assert hints >= 1
    await wait_for(lambda: not inotify_threads() - before, 3)
