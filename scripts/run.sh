#!/usr/bin/env bash
# The README's run command: set up what is missing, then run a whole PBX pod here (see lab/__main__.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m lab "$@"
