#!/usr/bin/env bash
# The README's test command: set up what is missing, then lint, type-check and run every test
# (the lab tests included: they need root, as CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check supervisor tests lab bench
echo "== mypy --strict supervisor"
.venv/bin/mypy --strict supervisor
echo "== import contracts (.importlinter)"
.venv/bin/lint-imports --no-cache
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
