"""Timeouts use asyncio.timeout(), never asyncio.wait_for(): on Python 3.11 wait_for() can
swallow a cancellation that arrives as the awaited future completes, and a task would then
outlive its own shutdown."""

from __future__ import annotations

import re
from pathlib import Path

import supervisor

PACKAGE = Path(supervisor.__file__).parent


def test_no_wait_for_in_the_package() -> None:
    """No module of the package calls wait_for (comments explaining the rule aside)."""
    calls = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bwait_for\(", line.split("#")[0])
    ]
    assert calls == []
