"""The AMI read loop: reads once booted and on each wake-up, and forgets (unknown, never
stale) while Asterisk is down or does not answer."""

from __future__ import annotations

import asyncio

import pytest

from supervisor.ami.poll import poll_forever
from supervisor.ami.types import AmiError


@pytest.mark.looptime
async def test_reads_when_booted_and_forgets_when_not_or_when_refused() -> None:
    """Nothing is read before FullyBooted (forgotten instead); a failed read forgets too; a
    wake-up reads again before the interval."""
    booted, wakeup = asyncio.Event(), asyncio.Event()
    seen: list[str] = []
    fail = [False]

    async def refresh() -> None:
        seen.append("read")
        if fail[0]:
            raise AmiError("no answer")

    task = asyncio.create_task(
        poll_forever(
            booted=booted,
            refresh=refresh,
            forget=lambda: seen.append("forget"),
            wakeup=wakeup,
            interval=3600,
            what="test",
        )
    )
    try:
        await asyncio.sleep(1)
        assert seen == ["forget"]
        booted.set()
        await asyncio.sleep(1)
        assert seen == ["forget", "read"]
        fail[0] = True
        wakeup.set()
        await asyncio.sleep(1)
        assert seen == ["forget", "read", "read", "forget"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
