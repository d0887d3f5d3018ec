#!/usr/bin/env bash
# The README's run command: set up what is missing, then bring up the lab and run the PBX in it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m lab "$@"
