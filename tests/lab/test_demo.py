"""The README's run command: a whole PBX pod (supervisor, Asterisk, provider, phones, doorbell)
that registers its trunk, answers doorbell calls, counts them, and leaves nothing behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab import netns
from lab.paths import REPO

pytestmark = pytest.mark.lab


def test_demo_places_three_answered_calls_and_tears_down(rootfs: Path) -> None:
    """`python -m lab --calls 3`: trunk registered, 3 calls counted, no namespace or mount left."""
    done = subprocess.run(
        [sys.executable, "-m", "lab", "--calls", "3", "--interval", "1", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "trunk 'provider' registered" in out
    assert re.search(r"summary: 3 doorbell calls placed, 3 calls counted", out), out
    assert "doorbell call 3: answered" in out
    prefix = re.search(r"lab prefix (\S+)", out)
    assert prefix is not None
    assert "demo: torn down" in out
    assert netns.namespaces_with_prefix(prefix.group(1)) == []
    assert prefix.group(1) not in Path("/proc/mounts").read_text()
    assert not (rootfs / "srv" / "asterisk-lab" / f"{prefix.group(1)}-demo").exists()
