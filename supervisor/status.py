"""Readiness and status: each part of the supervisor contributes named checks; HTTP only reads."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str
    # A check that is shown but does not gate readiness (e.g. trunk registration by default).
    gates_readiness: bool = True


CheckSource = Callable[[], Iterable[Check]]
SectionSource = Callable[[], Mapping[str, object]]


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
        self._sections: dict[str, SectionSource] = {}

    def add(self, *sources: CheckSource) -> None:
        """Check sources, shown in the order added."""
        self._sources.extend(sources)

    def add_section(self, name: str, source: SectionSource) -> None:
        """Structured detail shown after the checks (e.g. the top offending SIP sources); the
        source must return JSON-compatible, bounded data."""
        self._sections[name] = source

    def sections(self) -> dict[str, Mapping[str, object]]:
        return {name: source() for name, source in self._sections.items()}

    def checks(self) -> list[Check]:
        return [check for source in self._sources for check in source()]

    def ready(self) -> bool:
        return all(c.ok for c in self.checks() if c.gates_readiness)

    def as_dict(self) -> dict[str, object]:
        checks = self.checks()
        out: dict[str, object] = {
            "ready": all(c.ok for c in checks if c.gates_readiness),
            "checks": [asdict(c) for c in checks],
        }
        out.update(self.sections())
        return out

    def as_text(self) -> str:
        checks = self.checks()
        ready = all(c.ok for c in checks if c.gates_readiness)
        lines = [f"ready: {'yes' if ready else 'no'}"]
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.gates_readiness else "warn")
            lines.append(f"  [{mark}] {c.name}: {c.detail}")
        for name, data in self.sections().items():
            lines.append(f"{name}:")
            for key, value in data.items():
                if isinstance(value, list):
                    lines.append(f"  {key}:" + ("" if value else " none"))
                    lines += [f"    {json.dumps(item, sort_keys=True)}" for item in value]
                else:
                    lines.append(f"  {key}: {value}")
        return "\n".join(lines) + "\n"
