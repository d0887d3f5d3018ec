from __future__ import annotations

import sys
from pathlib import Path

# The lab (tests/benchmarks/demo helper package) lives at the repo root, beside the product.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

pytest_plugins = ["lab.fixtures"]
