"""Readiness and status: each part of the supervisor contributes named checks; HTTP only reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str
    # A check that is shown but does not gate readiness (e.g. trunk registration by default).
    gates_readiness: bool = True


CheckSource = Callable[[], Iterable[Check]]


class Heartbeat:
    """Liveness is our own loop's responsiveness: a task that ticks; a stuck loop stops ticking.
    Asterisk's health is deliberately not part of it (a flapping PBX must not kill the pod)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.last = time.monotonic()

    async def run(self) -> None:
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(self.interval_s)

    def age(self) -> float:
        return time.monotonic() - self.last

    def alive(self, max_age_s: float = 10.0) -> bool:
        return self.age() <= max_age_s


class StatusBoard:
    def __init__(self) -> None:
        self._sources: list[CheckSource] = []

    def add(self, source: CheckSource) -> None:
        self._sources.append(source)

    def checks(self) -> list[Check]:
        return [check for source in self._sources for check in source()]

    def ready(self) -> bool:
        return all(c.ok for c in self.checks() if c.gates_readiness)

    def as_dict(self) -> dict[str, object]:
        checks = self.checks()
        return {
            "ready": all(c.ok for c in checks if c.gates_readiness),
            "checks": [asdict(c) for c in checks],
        }

    def as_text(self) -> str:
        checks = self.checks()
        ready = all(c.ok for c in checks if c.gates_readiness)
        lines = [f"ready: {'yes' if ready else 'no'}"]
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.gates_readiness else "warn")
            lines.append(f"  [{mark}] {c.name}: {c.detail}")
        return "\n".join(lines) + "\n"
