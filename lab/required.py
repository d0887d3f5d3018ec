"""What a test needs from the machine: root, a tool, the cached root filesystem.

Missing on a developer's machine, the test is skipped and says why. Missing under CI (the
environment variable CI=true, as CI services set it), the test fails: a CI run must not pass
by skipping what it was meant to check.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def missing(reason: str) -> NoReturn:
    """Skip the test (fail it under CI) for want of `reason`."""
    if under_ci():
        pytest.fail(f"{reason} (required under CI=true)", pytrace=False)
    pytest.skip(reason)


def root() -> None:
    if os.geteuid() != 0:
        missing("the lab needs root (network namespaces, chroot): run the tests as root")


def tool(name: str, package: str) -> str:
    """The tool's path; `package`: the Debian package scripts/setup.sh installs it from."""
    found = shutil.which(name)
    if found is None:
        missing(f"{name} missing (Debian package {package}, installed by scripts/setup.sh)")
    return found
