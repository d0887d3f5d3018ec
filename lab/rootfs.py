"""Build (once) and cache the Debian sid root filesystem that holds Asterisk 22 and sipp.

The tree is keyed by a hash of image/packages.txt, built into a temporary directory and renamed
into place, so an interrupted build never leaves a half tree behind and concurrent runs wait on
one lock instead of building twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lab.paths import CACHE, PACKAGE_LIST

# Bump when the build recipe changes in a way the package list does not show.
RECIPE = "mmdebstrap-essential-v2"
COMPLETE_MARK = ".asb-complete"


def packages(path: Path = PACKAGE_LIST) -> list[str]:
    """The package names of the list file, without comments and blank lines."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def cache_key(path: Path = PACKAGE_LIST) -> str:
    text = RECIPE + "\n" + "\n".join(sorted(packages(path)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def host_mirror() -> str:
    """The Debian mirror the host's apt already uses: the lab must not name one of its own."""
    candidates: list[Path] = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for source in candidates:
        text = source.read_text()
        for stanza in re.split(r"\n\s*\n", text):
            suites = r"^Suites:.*\b(bookworm|trixie|sid|stable|testing|unstable)\b(?!-)"
            enabled = not re.search(r"^Enabled:\s*no", stanza, re.M | re.I)
            if enabled and re.search(suites, stanza, re.M):
                match = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if match and "security" not in match.group(1):
                    return match.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and "security" not in parts[1]:
                return parts[1] if not parts[1].startswith("[") else parts[2]
    raise RuntimeError("no Debian mirror found in the host's apt sources")


def ensure_host_tool(tool: str, package: str) -> None:
    if shutil.which(tool):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, env=env)


def isolate_resolver(tree: Path) -> None:
    """Point the tree's resolver at loopback: mmdebstrap copies the host's, and a lab namespace must
    never send a query toward it (Asterisk resolves its host name at start; a dead resolver there
    also costs a 5 s timeout)."""
    resolv = tree / "etc" / "resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")


def rootfs_path(path: Path = PACKAGE_LIST) -> Path:
    return CACHE / f"rootfs-{cache_key(path)}"


def ensure_rootfs(path: Path = PACKAGE_LIST) -> Path:
    """Return the cached root filesystem, building it first when it is missing."""
    target = rootfs_path(path)
    if (target / COMPLETE_MARK).exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / COMPLETE_MARK).exists():
            return target
        ensure_host_tool("mmdebstrap", "mmdebstrap")
        staging = Path(tempfile.mkdtemp(prefix="rootfs-build-", dir=CACHE))
        try:
            tree = staging / "root"
            subprocess.run(
                [
                    "mmdebstrap",
                    "--variant=essential",
                    "--include=" + ",".join(packages(path)),
                    # sid's Release file on a snapshot mirror may be past its Valid-Until date.
                    '--aptopt=Acquire::Check-Valid-Until "false"',
                    "sid",
                    str(tree),
                    host_mirror(),
                ],
                check=True,
            )
            isolate_resolver(tree)
            (tree / COMPLETE_MARK).write_text(cache_key(path) + "\n")
            if target.exists():
                shutil.rmtree(target)
            tree.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for old in CACHE.glob("rootfs-*"):
            if old != target and old.is_dir() and not old.name.startswith("rootfs-build-"):
                shutil.rmtree(old, ignore_errors=True)
    return target


def asterisk_ids(rootfs: Path) -> tuple[int, int]:
    """uid and gid of the rootfs's `asterisk` user: config files must be readable by it."""
    uid = gid = -1
    for line in (rootfs / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "asterisk":
            uid, gid = int(fields[2]), int(fields[3])
    if uid < 0:
        raise RuntimeError(f"{rootfs}: no asterisk user in the root filesystem")
    return uid, gid


if __name__ == "__main__":
    print(ensure_rootfs())
    sys.exit(0)
