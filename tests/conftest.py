from __future__ import annotations

import sys
from pathlib import Path

# The lab (tests/benchmarks/demo helper package) lives at the repo root, beside the product.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The timing tests run on looptime's virtual loop time; without the plugin they would sleep
# for real (an hour, in places). Missing: run ./scripts/setup.sh (the dev extra has it).
import looptime  # noqa: F401

pytest_plugins = ["lab.fixtures"]
