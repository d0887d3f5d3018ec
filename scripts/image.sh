#!/usr/bin/env bash
# Builds the container image asterisk-supervisor:dev from image/Dockerfile with podman, on a fresh
# Debian machine (as root), with no container registry: installs what is missing (podman, runc,
# mmdebstrap, the project's .venv), makes the base with mmdebstrap and imports it, downloads the
# Python wheels on the host, then builds the Dockerfile unchanged. The base tarball and the
# wheels are cached under /var/cache/asterisk-supervisor/image, keyed by their inputs; podman's
# layer cache keeps the Debian packages, so a change to supervisor/ rebuilds in seconds.
# Elsewhere (docker or buildah with a registry) build the Dockerfile directly: see the README.
set -euo pipefail
cd "$(dirname "$0")/.."
ASB_SETUP_ROOTFS=no scripts/setup.sh
exec .venv/bin/python -m lab.container build "$@"
