"""Where the lab keeps things that outlive one run (caches) and where the repo's files are."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE_LIST = REPO / "image" / "packages.txt"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"

# Outside the checkout so that CI's fresh clone and later sessions reuse the root filesystem.
CACHE = Path(os.environ.get("ASB_CACHE", "/var/cache/asterisk-supervisor"))
