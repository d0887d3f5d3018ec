"""Waiting for a condition on the event loop, with a deadline by the loop's clock (virtual under
looptime). The blocking counterpart is lab.asterisk.wait_until."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(
    predicate: Callable[[], object], timeout: float = 5.0, what: str = "", interval: float = 0.01
) -> float:
    """Poll `predicate` on the event loop until it holds; the loop seconds it took. TimeoutError
    (naming `what`) after `timeout`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(interval)
    return loop.time() - start
