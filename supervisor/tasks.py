"""Named, guarded long-running tasks (the composition root starts them in a TaskGroup)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

log = logging.getLogger("supervisor")


@dataclass(frozen=True)
class Task:
    """A long-running task: `run()` makes its coroutine, which must run until cancelled."""

    name: str
    run: Callable[[], Coroutine[Any, Any, Any]]


async def guard(
    name: str, coro: Coroutine[Any, Any, Any], expected: tuple[type[BaseException], ...] = ()
) -> NoReturn:
    """Run a task that must never return: log how it ended, and make a return an error (a
    TaskGroup only cancels its siblings when one raises). `expected`: exceptions that end the
    supervisor on purpose (shutdown, start-up failure, crash loop), passed on without a trace."""
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except expected:
        raise
    except Exception:
        log.exception("task %s failed", name)
        raise
    raise RuntimeError(f"task {name} returned; it must run until cancelled")


def start_all(
    tg: asyncio.TaskGroup, tasks: Sequence[Task], expected: tuple[type[BaseException], ...]
) -> None:
    for task in tasks:
        tg.create_task(guard(task.name, task.run(), expected), name=task.name)
