"""The container image: build times (cold and warm), size, what is left by size, start-to-ready.

    python -m bench.bench_image [--runs N] [--skip-cold] [--report PATH]

Cold: `python -m lab.container build` (what scripts/image.sh runs) in a copy of the repository
with an empty cache directory and an empty podman storage of its own (CONTAINERS_STORAGE_CONF),
so nothing of the machine's caches is used and nothing of theirs is touched: mmdebstrap base +
import, the python stage, the wheel download, the whole podman build. Warm: the same copy built
again unchanged, then after a Python-only change (a comment appended to a module). Size and
contents: the machine's `asterisk-supervisor:dev`, mounted, with each Debian package's files that
are really there summed (dpkg's Installed-Size counts the docs the image leaves out). Start to
ready: `podman run` of that image as the tests run it (read-only, uid 101, the lab's pod network
namespace) until /readyz answers 200, median of N.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.report import LoadSampler, header, write
from lab import container, netns, sipp
from lab.asterisk import RunDir
from lab.netns import Lab
from lab.paths import REPO
from lab.rootfs import ensure_rootfs
from lab.supervisor import read_dir

REPORT = Path(__file__).resolve().parent / "reports" / "image.md"
EXAMPLE = REPO / "examples" / "home"
STEP_RE = re.compile(r"(tools|base|python stage|wheels|podman build) ([0-9.]+) s")

# Package groups for the "what is left" table: the first pattern that matches names the group.
GROUPS = (
    ("Asterisk (binary, modules, sounds, config samples)", r"^asterisk"),
    (
        "Asterisk's libraries: pjproject, codecs, SRTP, ...",
        r"^lib(asteriskpj|codec2|opus|speex|"
        r"srtp|spandsp|gsm|ogg|vorbis|jansson|uriparser|iksemel|resample|samplerate)",
    ),
    ("Perl (for libsnmp, res_snmp; perl-base is in the base)", r"^(perl-modules|libperl)"),
    ("ICU (for libical, res_calendar)", r"^libicu"),
    ("Python 3 interpreter and standard library", r"^(python3|libpython3)"),
    ("Debian base: libc, coreutils, bash, apt, dpkg, ...", r"."),
)


def build_in(copy: Path, env: dict[str, str]) -> dict[str, float]:
    """One `python -m lab.container build` in `copy`: its wall time and the steps it reports."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "lab.container", "build"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"build failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    steps = {name: float(value) for name, value in STEP_RE.findall(done.stdout)}
    steps["total"] = time.monotonic() - start
    return steps


def cold_and_warm() -> list[tuple[str, dict[str, float]]]:
    scratch = Path(tempfile.mkdtemp(prefix="asb-bench-image-", dir="/var/tmp"))
    copy, cache, storage = scratch / "repo", scratch / "cache", scratch / "storage"
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / name.decode()
        if source.is_file():
            (copy / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name.decode())
    conf = scratch / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{storage}/graph"\nrunroot = "{storage}/run"\n'
    )
    env = dict(
        os.environ,
        ASB_CACHE=str(cache),
        CONTAINERS_STORAGE_CONF=str(conf),
        PYTHONPATH=str(copy),
    )
    results = []
    try:
        results.append(("cold: empty caches, empty podman storage", build_in(copy, env)))
        results.append(("warm: nothing changed", build_in(copy, env)))
        module = copy / "supervisor" / "health.py"
        module.write_text(module.read_text() + "\n# a Python-only change\n")
        results.append(("warm: a Python-only change (supervisor/health.py)", build_in(copy, env)))
    finally:
        # Never `podman system reset`: with a wrong environment it would wipe the machine's own
        # storage. Unmount what the scratch storage left mounted, then delete it.
        for line in reversed(Path("/proc/mounts").read_text().splitlines()):
            point = line.split()[1]
            if point.startswith(str(scratch)):
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def package_sizes(root: Path) -> dict[str, int]:
    """Bytes of each package's files present in the mounted image (regular files, counted once)."""
    seen: set[str] = set()
    sizes: dict[str, int] = {}
    for listing in sorted((root / "var/lib/dpkg/info").glob("*.list")):
        package = listing.stem.split(":")[0]
        total = 0
        for line in listing.read_text(errors="replace").splitlines():
            path = root / line.lstrip("/")
            if line in seen or path.is_symlink() or not path.is_file():
                continue
            seen.add(line)
            total += path.stat().st_size
        sizes[package] = sizes.get(package, 0) + total
    return sizes


def contents(tag: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """(group, bytes) rows, the 12 largest packages, and the bytes of the whole tree."""
    with container.mounted(tag) as root:
        sizes = package_sizes(root)
        venv = container.usage(root, ["/opt/asterisk-supervisor"])["/opt/asterisk-supervisor"]
        dpkg_db = container.usage(root, ["/var/lib/dpkg"])["/var/lib/dpkg"]
        total = int(
            subprocess.run(
                ["du", "-sxb", str(root)], capture_output=True, text=True, check=True
            ).stdout.split()[0]
        )
    grouped: dict[str, int] = defaultdict(int)
    for package, size in sizes.items():
        for name, pattern in GROUPS:
            if re.search(pattern, package):
                grouped[name] += size
                break
    rows = sorted(grouped.items(), key=lambda row: -row[1])
    rows.append(("the supervisor's virtual environment (/opt/asterisk-supervisor)", venv))
    rows.append(("dpkg's database (/var/lib/dpkg: lets scanners list the packages)", dpkg_db))
    largest = sorted(sizes.items(), key=lambda row: -row[1])[:12]
    return rows, largest, total


def start_to_ready(image: str, runs: int) -> list[tuple[float, float]]:
    """(podman run -> /readyz 200, the supervisor's own start -> ready) of each run."""
    rootfs = ensure_rootfs()
    secrets = read_dir(EXAMPLE / "secrets")
    times = []
    with Lab() as lab:
        run = RunDir(rootfs, f"{lab.prefix}-bench").create()
        registrar = sipp.registrar(
            lab, run, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
        )
        try:
            for _ in range(runs):
                pod = container.ContainerRun(
                    lab, run, read_dir(EXAMPLE / "site"), secrets, image=image
                )
                try:
                    pod.start()
                    wall = pod.wait_ready(60)
                    match = re.search(r"ready ([0-9.]+) s after start", pod.output())
                    times.append((wall, float(match.group(1)) if match else float("nan")))
                finally:
                    pod.stop()
        finally:
            registrar.stop()
            run.remove()
    return times


def podman_version() -> str:
    done = subprocess.run(["podman", "--version"], capture_output=True, text=True, check=True)
    return done.stdout.split()[-1]


def mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    with LoadSampler() as load:
        builds = [] if args.skip_cold else cold_and_warm()
        built = container.build()
        size = container.image_size(built.tag)
        rows, largest, total = contents(built.tag)
        ready = start_to_ready(built.image_id, args.runs)
    walls, inside = [r[0] for r in ready], [r[1] for r in ready]
    lines = [
        *header(
            "The container image: build times, size, contents, start to ready",
            load.summary(),
            report=args.report,
        ),
        f"{platform.machine()}, podman {podman_version()} with runc.",
        "",
        "## Build (`scripts/image.sh`, i.e. `python -m lab.container build`)",
        "",
    ]
    if not builds:
        lines.append("Not measured in this run (`--skip-cold`).")
    else:
        lines += [
            "| build | total | base (mmdebstrap + import) | python stage | wheels | podman build |",
            "|---|---|---|---|---|---|",
        ]
    for name, steps in builds:
        lines.append(
            f"| {name} | {steps['total']:.1f} s | {steps.get('base', 0):.1f} s "
            f"| {steps.get('python stage', 0):.1f} s | {steps.get('wheels', 0):.1f} s "
            f"| {steps.get('podman build', 0):.1f} s |"
        )
    lines += [
        "",
        f"## Size: {mb(size)} (podman's image size; {mb(total)} of files)",
        "",
        "| what is left | size |",
        "|---|---|",
        *(f"| {name} | {mb(value)} |" for name, value in rows),
        "",
        "Largest Debian packages (their files present in the image):",
        "",
        "| package | size |",
        "|---|---|",
        *(f"| {name} | {mb(value)} |" for name, value in largest),
        "",
        "Not in the image: documentation (only the copyright files stay), man and info pages,",
        "locales, apt's lists and package cache, pip, setuptools, any compiler, sipp (lab-only).",
        "",
        "## Start to ready",
        "",
        f"`podman run` (read-only root, uid 101, no capabilities, tmpfs volumes, lab pod namespace)"
        f" until /readyz answers 200: median {statistics.median(walls):.2f} s of {len(walls)} "
        f"(min {min(walls):.2f}, max {max(walls):.2f}); of which the supervisor's own start to "
        f"ready (its log): median {statistics.median(inside):.2f} s (max {max(inside):.2f}). The "
        "rest is podman and runc making the container and Python starting.",
    ]
    write(args.report, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
