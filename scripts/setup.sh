#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine (as root), idempotently:
# host packages, the project's virtual environment, and the cached Asterisk root filesystem.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v prometheus >/dev/null || need+=(prometheus)
# The container image is built and run with podman, which needs runc here (crun does not work).
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
# The read-only page at / is tested in a real headless browser (tests/supervisor/records).
command -v chromium >/dev/null || need+=(chromium)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing host packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"setup: Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
PY

stamp=".venv/.asb-installed"
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating the virtual environment in .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  echo "$want" > "$stamp"
fi

# scripts/image.sh needs no lab root filesystem.
if [ "${ASB_SETUP_ROOTFS:-yes}" != no ]; then
  echo "setup: Asterisk root filesystem at $(.venv/bin/python -m lab.rootfs)"
fi
