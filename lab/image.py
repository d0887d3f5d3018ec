"""The container image's facts, read from image/Dockerfile (its final stage), so that the tests
that run the built image (lab/container.py, with podman) and the fast ones that rebuild its layout
from the lab root filesystem (no container engine) use exactly the user, volumes, entrypoint and
virtual environment the Dockerfile declares."""

from __future__ import annotations

import configparser
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dockerfile_parse import DockerfileParser

from lab.paths import REPO

DOCKERFILE = REPO / "image" / "Dockerfile"


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One build stage: its name, base and instructions as (INSTRUCTION, value) pairs."""

    name: str
    base: str
    instructions: tuple[tuple[str, str], ...]

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]


@dataclass(frozen=True, kw_only=True)
class ImageFacts:
    user: str  # as written in USER
    uid: int
    gid: int
    volumes: tuple[PurePosixPath, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    venv: PurePosixPath
    workdir: PurePosixPath
    env: dict[str, str]
    labels: dict[str, str]
    exposed: tuple[str, ...]
    package_list: str  # the repository path COPYed and installed with xargs
    copied_from_build: tuple[PurePosixPath, ...]  # paths the runtime stage takes from other stages
    stages: tuple[Stage, ...]

    @property
    def argv(self) -> tuple[str, ...]:
        """The container's default command line (ENTRYPOINT + CMD)."""
        return self.entrypoint + self.cmd

    @property
    def mount_points(self) -> tuple[PurePosixPath, ...]:
        """The directories CMD passes to --config and --secrets: where the pod mounts the site
        ConfigMap and the Secret (the container runtime creates them; build_layer does here)."""
        return tuple(
            PurePosixPath(value)
            for flag, value in zip(self.cmd, self.cmd[1:], strict=False)
            if flag in ("--config", "--secrets")
        )

    @property
    def executable(self) -> PurePosixPath:
        """Where PATH finds the entrypoint's program: the venv's console script."""
        return self.venv / "bin" / self.entrypoint[0]


def _exec_form(value: str) -> tuple[str, ...]:
    value = value.strip()
    if value.startswith("["):
        return tuple(json.loads(value))
    return tuple(shlex.split(value))


def stages(path: Path = DOCKERFILE) -> tuple[Stage, ...]:
    parser = DockerfileParser(str(path))
    found: list[Stage] = []
    name = base = ""
    body: list[tuple[str, str]] = []
    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "COMMENT":
            continue
        if instruction == "FROM":
            if base:
                found.append(Stage(name=name, base=base, instructions=tuple(body)))
            words = value.split()
            base = words[0]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else ""
            body = []
        elif base:
            body.append((instruction, value))
    if base:
        found.append(Stage(name=name, base=base, instructions=tuple(body)))
    return tuple(found)


def image_facts(path: Path = DOCKERFILE) -> ImageFacts:
    """The final stage's facts (labels and env with build-arg defaults substituted)."""
    all_stages = stages(path)
    final = all_stages[-1]
    parser = DockerfileParser(str(path))
    env = dict(parser.envs)
    labels = dict(parser.labels)

    (user,) = final.values("USER")[-1:] or ("root",)
    uid_text, _, gid_text = user.partition(":")
    if not uid_text.isdigit() or (gid_text and not gid_text.isdigit()):
        raise ValueError(f"{path}: USER {user!r} must be numeric uid[:gid]")
    uid = int(uid_text)
    gid = int(gid_text) if gid_text else uid

    volumes: list[PurePosixPath] = []
    for value in final.values("VOLUME"):
        volumes.extend(PurePosixPath(v) for v in _exec_form(value))

    package_list = ""
    copied: list[PurePosixPath] = []
    for value in final.values("COPY"):
        words = shlex.split(value)
        if words[0].startswith("--from="):
            copied.extend(PurePosixPath(w) for w in words[1:-1])
        elif any(w.endswith("packages.txt") for w in words[:-1]):
            package_list = next(w for w in words[:-1] if w.endswith("packages.txt"))

    exposed: list[str] = []
    for value in final.values("EXPOSE"):
        exposed.extend(value.split())

    return ImageFacts(
        user=user,
        uid=uid,
        gid=gid,
        volumes=tuple(volumes),
        entrypoint=_exec_form(final.values("ENTRYPOINT")[-1]),
        cmd=_exec_form(final.values("CMD")[-1]) if final.values("CMD") else (),
        venv=PurePosixPath(env["VIRTUAL_ENV"]),
        workdir=PurePosixPath(final.values("WORKDIR")[-1])
        if final.values("WORKDIR")
        else PurePosixPath("/"),
        env=env,
        labels=labels,
        exposed=tuple(exposed),
        package_list=package_list,
        copied_from_build=tuple(copied),
        stages=all_stages,
    )


# ---- the image's root filesystem without a container engine ------------------------------------
#
# The image is the lab's root filesystem (same package list, same snapshot recipe) plus what the
# Dockerfile's build stage adds: the supervisor in a virtual environment made by the tree's own
# python3. `build_layer` installs that into a directory (an overlay upper layer); `image_root`
# stacks it read-only over the root filesystem and mounts a fresh tmpfs on each VOLUME, as the
# pod's emptyDirs do. Mounts need root.


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def resolve_in(tree: Path, path: PurePosixPath) -> Path:
    """Where `path` (as the image sees it) is under `tree`, following symlinks inside the tree
    (Debian's /var/run -> /run)."""
    current = PurePosixPath("/")
    for part in path.relative_to("/").parts:
        candidate = current / part
        host = tree / candidate.relative_to("/")
        for _ in range(40):
            if not host.is_symlink():
                break
            target = PurePosixPath(os.readlink(host))
            candidate = target if target.is_absolute() else candidate.parent / target
            host = tree / PurePosixPath(os.path.normpath(candidate)).relative_to("/")
        current = PurePosixPath(os.path.normpath(candidate))
    return tree / current.relative_to("/")


@contextmanager
def overlay(lower: list[Path], target: Path, upper: Path | None = None) -> Iterator[Path]:
    """An overlay mount of `lower` (first on top) at `target`; read-only unless `upper` is given."""
    target.mkdir(parents=True, exist_ok=True)
    options = "lowerdir=" + ":".join(str(p) for p in lower)
    work = None
    if upper is not None:
        work = upper.parent / f"{upper.name}.work"
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(exist_ok=True)
        options += f",upperdir={upper},workdir={work}"
    else:
        options += ",ro"
    _run(["mount", "-t", "overlay", "overlay", "-o", options, str(target)])
    try:
        yield target
    finally:
        subprocess.run(["umount", "-R", "-l", str(target)], check=False)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def _wheel_tags(python: str) -> list[str]:
    """pip options selecting binary wheels for the tree's CPython (version like "3.14")."""
    abi = "cp" + python.replace(".", "")
    machine = platform.machine()
    tags = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    tags += ["--abi", abi, "--abi", "abi3", "--abi", "none"]
    for plat in ("manylinux_2_28", "manylinux_2_17", "manylinux2014", "manylinux1", "linux"):
        tags += ["--platform", f"{plat}_{machine}"]
    return tags


def install_supervisor(tree: Path, facts: ImageFacts | None = None) -> Path:
    """Install the supervisor into `tree` as the Dockerfile's build stage does: a venv at the
    image's venv path made by the tree's own python3, the project (a wheel of this checkout, not
    editable) and its dependencies as binary wheels for that interpreter, console scripts that
    run the venv's python, bytecode compiled by it. Returns the venv on the host side."""
    facts = facts or image_facts()
    venv = tree / facts.venv.relative_to("/")
    _run(["chroot", str(tree), "python3", "-m", "venv", "--without-pip", str(facts.venv)])
    version = _run(
        ["chroot", str(tree), "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    ).stdout.strip()
    site = venv / "lib" / f"python{version}" / "site-packages"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    with tempfile.TemporaryDirectory(prefix="asb-wheel-") as wheels:
        _run([*pip, "wheel", "--no-deps", "-w", wheels, str(REPO)])
        (wheel,) = Path(wheels).glob("*.whl")
        _run(
            [
                *pip,
                "install",
                "--no-compile",
                "--target",
                str(site),
                *_wheel_tags(version),
                str(wheel),
            ]
        )
    shutil.rmtree(site / "bin", ignore_errors=True)  # scripts with the host's interpreter
    python = facts.venv / "bin" / "python"
    for dist in site.glob("*.dist-info"):
        entry_points = dist / "entry_points.txt"
        if not entry_points.exists():
            continue
        parser = configparser.ConfigParser()
        parser.read_string(entry_points.read_text())
        if not parser.has_section("console_scripts"):
            continue
        for name, target in parser.items("console_scripts"):
            module, _, function = target.partition(":")
            script = venv / "bin" / name
            script.write_text(
                f"#!{python}\nimport sys\nfrom {module.strip()} import {function.strip()}\n"
                f"sys.exit({function.strip()}())\n"
            )
            script.chmod(0o755)
    site_in = PurePosixPath("/") / site.relative_to(tree)
    _run(["chroot", str(tree), str(python), "-m", "compileall", "-q", "-j0", str(site_in)])
    return venv


def build_layer(rootfs: Path, layer: Path, facts: ImageFacts | None = None) -> Path:
    """What the Dockerfile adds to the root filesystem, as an overlay layer in `layer`: the
    supervisor's venv, the VOLUME directories owned by the image's user, and the (empty) mount
    points of the site ConfigMap and the Secret, as the container runtime makes them."""
    facts = facts or image_facts()
    with (
        tempfile.TemporaryDirectory(prefix="asb-layer-") as scratch,
        overlay([rootfs], Path(scratch) / "root", upper=layer) as tree,
    ):
        install_supervisor(tree, facts)
        for mount_point in facts.mount_points:
            resolve_in(tree, mount_point).mkdir(parents=True, exist_ok=True)
        for volume in facts.volumes:
            path = resolve_in(tree, volume)
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, facts.uid, facts.gid)
    return layer


@contextmanager
def image_root(
    rootfs: Path, layer: Path, where: Path, facts: ImageFacts | None = None
) -> Iterator[Path]:
    """The image's root filesystem at `where`: read-only, with an empty tmpfs owned by the image's
    user on each VOLUME (the pod's emptyDirs; /tmp sticky and world-writable)."""
    facts = facts or image_facts()
    with overlay([layer, rootfs], where) as tree:
        for volume in facts.volumes:
            path = resolve_in(tree, volume)
            mode = "1777" if volume == PurePosixPath("/tmp") else "0750"
            _run(
                [
                    "mount",
                    "-t",
                    "tmpfs",
                    "-o",
                    f"size=64m,mode={mode},uid={facts.uid},gid={facts.gid}",
                    "tmpfs",
                    str(path),
                ]
            )
        yield tree
