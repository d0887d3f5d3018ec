"""The real image, built and run with podman on this machine, with no container registry.

Build (`build()`, also `python -m lab.container build`, which scripts/image.sh runs):
1. the base: a Debian sid root filesystem made by mmdebstrap (apt variant, no docs), saved as a
   tarball and imported as `asterisk-supervisor-base:<key>`, in place of `debian:sid-slim`;
2. the Python packages: binary wheels for the image's interpreter, downloaded on the host by the
   project's pip into a directory that the build mounts (`PIP_FIND_LINKS`, `--no-index`);
3. `podman build` of image/Dockerfile, unchanged, with the mirror the host's apt uses.

The tarball and the wheels are cached under the lab's cache directory, each keyed by what makes
it (recipe, mirror; requirements, interpreter version, machine); podman's layer cache keeps the
Debian packages, so a change to supervisor/ rebuilds only the last layers.

Run (`ContainerRun`): the container as Kubernetes runs the pod: read-only root, the image's
user, no capability, no privilege escalation, a fresh tmpfs on exactly the image's VOLUMEs (as
emptyDirs: nothing copied up from the image), the site and the Secret as kubelet mounts them
(`..data` layout, fsGroup-readable), in the lab's pod network namespace.

Podman here needs runc (crun fails on this cgroup set-up) and rlimits no higher than the
sandbox allows (see ../shared/docs/asterisk-lab.md, "More parts that work here").
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import itertools
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import proc
from lab.image import DOCKERFILE, ImageFacts, _wheel_tags, image_facts
from lab.kubelet import write_mount
from lab.netns import NETNS_DIR
from lab.paths import CACHE, REPO
from lab.rootfs import ensure_host_tool, host_mirror
from lab.supervisor import SupervisorRun

TAG = "localhost/asterisk-supervisor:dev"
BASE_NAME = "localhost/asterisk-supervisor-base"
IMAGE_CACHE = CACHE / "image"
# Bump when a recipe changes in a way its key does not show.
BASE_RECIPE = "mmdebstrap-apt-nodoc-v1"
WHEEL_RECIPE = "pip-download-binary-v1"
# Where the build sees the wheels (a build-time volume; the Dockerfile only knows PIP_FIND_LINKS).
WHEELS_IN_BUILD = "/wheels"
# The sandbox refuses to raise an rlimit, and podman's defaults would: stay below its ceilings.
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")
RUNTIME = ("--runtime", "runc")
# Paths the base leaves out, as debian:sid-slim does (the Dockerfile does the same for packages).
NODOC = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/locale/*",
)


class BuildError(RuntimeError):
    """The image could not be built; the message says which step and shows its output's tail."""


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


# No build step may hang a test run: a cold podman build takes 1 to 2 minutes here.
STEP_TIMEOUT_S = 600


def _run(argv: Sequence[str], step: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, check=False, timeout=STEP_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{step} did not finish within {STEP_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        command = " ".join(argv[:4])
        raise BuildError(f"{step} failed (exit {done.returncode}): {command} ...\n{tail}")
    return done


def ensure_tools() -> None:
    """What a fresh Debian machine lacks for the build (idempotent, from Debian's archive)."""
    for tool, package in (("podman", "podman"), ("runc", "runc"), ("mmdebstrap", "mmdebstrap")):
        try:
            ensure_host_tool(tool, package)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise BuildError(f"installing {package} with apt-get failed: {exc}") from exc


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """One build at a time on this machine (the caches and the tag are machine-wide)."""
    IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    with open(IMAGE_CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _prune(pattern: str, keep: Path) -> None:
    for old in IMAGE_CACHE.glob(pattern):
        if old != keep:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


# ---- the base ----------------------------------------------------------------------------------


def base_key(mirror: str) -> str:
    return _key(BASE_RECIPE, mirror, *NODOC)


def ensure_base(mirror: str) -> str:
    """The base image's name, imported from the cached tarball (made first when missing)."""
    key = base_key(mirror)
    name = f"{BASE_NAME}:{key}"
    tarball = IMAGE_CACHE / f"base-{key}.tar"
    if not tarball.exists():
        staging = IMAGE_CACHE / f".base-{key}.{os.getpid()}.tar"
        try:
            _run(
                [
                    "mmdebstrap",
                    "--variant=apt",
                    "--format=tar",
                    '--aptopt=Acquire::Check-Valid-Until "false"',
                    *(f"--dpkgopt={rule}" for rule in NODOC),
                    "sid",
                    str(staging),
                    mirror,
                ],
                "mmdebstrap of the base",
            )
            staging.rename(tarball)
        finally:
            staging.unlink(missing_ok=True)
        _prune("base-*.tar", tarball)
    if subprocess.run(["podman", "image", "exists", name], check=False).returncode != 0:
        _run(["podman", "import", "--quiet", str(tarball), name], "podman import of the base")
    return name


# ---- the wheels --------------------------------------------------------------------------------


def requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """What the build installs from the wheel directory: the build backend and the runtime
    dependencies (not the dev extras)."""
    data = tomllib.loads(pyproject.read_text())
    return [*data["build-system"]["requires"], *data["project"]["dependencies"]]


def ensure_wheels(python: str) -> Path:
    """Binary wheels for CPython `python` (like "3.14") on this machine's architecture."""
    wanted = requirements()
    key = _key(WHEEL_RECIPE, python, platform.machine(), *sorted(wanted))
    target = IMAGE_CACHE / f"wheels-{key}"
    if (target / ".complete").exists():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".wheels-", dir=IMAGE_CACHE))
    try:
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        _run([*pip, "download", "-d", str(staging), *_wheel_tags(python), *wanted], "pip download")
        (staging / ".complete").write_text(key + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune("wheels-*", target)
    return target


# ---- the build ---------------------------------------------------------------------------------


def _podman_build(*args: str) -> list[str]:
    return ["podman", "build", *RUNTIME, *ULIMITS, "--network", "host", "--layers", *args]


def _build_args(base: str, mirror: str) -> list[str]:
    args = {
        "DEBIAN_BASE": base,
        "DEBIAN_ARCHIVE": mirror,
        # A plain mirror has no snapshots: live sid, like the lab's root filesystem.
        "DEBIAN_SNAPSHOT": "",
    }
    return [f"--build-arg={k}={v}" for k, v in args.items()]


def python_version(base: str, mirror: str) -> str:
    """The version of the interpreter the image's venv is made with (the Dockerfile's `python`
    stage, from podman's cache after the first time)."""
    with tempfile.TemporaryDirectory(prefix="asb-iid-") as scratch:
        iidfile = Path(scratch) / "iid"
        _run(
            _podman_build(
                *_build_args(base, mirror),
                "--target",
                "python",
                "--iidfile",
                str(iidfile),
                "-f",
                str(DOCKERFILE),
                str(REPO),
            ),
            "podman build of the python stage",
        )
        image = iidfile.read_text().strip()
    done = _run(
        [
            "podman",
            *RUNTIME,
            "run",
            "--rm",
            *ULIMITS,
            "--network",
            "none",
            image,
            "python3",
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2])",
        ],
        "asking the python stage for its version",
    )
    return done.stdout.strip()


def _revision() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def _sweep_build_leftovers() -> list[str]:
    """Remove the working containers of builds that were killed (buildah's, storage-only, named
    <image>-working-container[-N]): they would pile up build after build. Called under the build
    lock, so none of them belongs to a build still running."""
    done = subprocess.run(
        ["podman", "ps", "--all", "--external", "--format", "{{.ID}} {{.Status}} {{.Names}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    removed = []
    for line in done.stdout.splitlines():
        ident, status, name = ([*line.split(), "", "", ""])[:3]
        if status == "Storage" and re.search(r"-working-container(-\d+)?$", name):
            subprocess.run(["podman", "rm", "--force", ident], capture_output=True, check=False)
            removed.append(name)
    return removed


@dataclass(frozen=True)
class Built:
    tag: str
    image_id: str
    seconds: dict[str, float]  # step -> wall time


def build(tag: str = TAG) -> Built:
    """Build image/Dockerfile into `tag` with podman, offline from any container registry."""
    seconds: dict[str, float] = {}

    def timed(step: str, start: float) -> None:
        seconds[step] = round(time.monotonic() - start, 2)

    t = time.monotonic()
    ensure_tools()
    timed("tools", t)
    with _locked("build"):
        _sweep_build_leftovers()
        t = time.monotonic()
        mirror = host_mirror()
        base = ensure_base(mirror)
        timed("base", t)
        t = time.monotonic()
        python = python_version(base, mirror)
        timed("python stage", t)
        t = time.monotonic()
        wheels = ensure_wheels(python)
        timed("wheels", t)
        t = time.monotonic()
        from supervisor import __version__

        with tempfile.TemporaryDirectory(prefix="asb-iid-") as scratch:
            iidfile = Path(scratch) / "iid"
            _run(
                _podman_build(
                    *_build_args(base, mirror),
                    f"--build-arg=PIP_FIND_LINKS={WHEELS_IN_BUILD}",
                    f"--build-arg=VERSION={__version__}",
                    f"--build-arg=REVISION={_revision()}",
                    "--volume",
                    f"{wheels}:{WHEELS_IN_BUILD}:ro",
                    "--iidfile",
                    str(iidfile),
                    "--tag",
                    tag,
                    "-f",
                    str(DOCKERFILE),
                    str(REPO),
                ),
                "podman build of image/Dockerfile",
            )
            image_id = iidfile.read_text().strip()
        timed("podman build", t)
        # Each rebuild leaves the previous image (and stage leaves) untagged: drop those after a
        # day, not at once, since untagged stage images are also this build's cache (and that of
        # other checkouts building in turn).
        subprocess.run(
            ["podman", "image", "prune", "--force", "--filter", "until=24h"],
            capture_output=True,
            check=False,
        )
    return Built(tag=tag, image_id=image_id, seconds=seconds)


# ---- what is in the image ----------------------------------------------------------------------


@contextmanager
def mounted(tag: str = TAG) -> Iterator[Path]:
    """The image's root filesystem, mounted read-only-by-convention on the host (root only)."""
    done = _run(["podman", "image", "mount", tag], "podman image mount")
    try:
        yield Path(done.stdout.strip())
    finally:
        subprocess.run(["podman", "image", "unmount", tag], capture_output=True, check=False)


def image_size(tag: str = TAG) -> int:
    done = _run(["podman", "image", "inspect", "--format", "{{.Size}}", tag], "image inspect")
    return int(done.stdout.strip())


def usage(root: Path, paths: Sequence[str]) -> dict[str, int]:
    """Bytes under each path of the mounted image (du, apparent sizes, one file system)."""
    result: dict[str, int] = {}
    for path in paths:
        target = root / path.lstrip("/")
        if not target.exists():
            continue
        done = _run(["du", "-sxb", str(target)], "du")
        result[path] = int(done.stdout.split()[0])
    return result


# ---- running it as Kubernetes would ------------------------------------------------------------

_names = itertools.count(1)


@dataclass(frozen=True, kw_only=True)
class Mount:
    """One volume mount of the pod's container: `kind` is the pod volume's type (configMap,
    secret, emptyDir, persistentVolumeClaim); `volume` its name in the pod."""

    path: str
    kind: str
    volume: str
    read_only: bool = False


@dataclass(frozen=True, kw_only=True)
class PodContainer:
    """What the pod asks of its container, in the terms podman needs."""

    args: tuple[str, ...]
    uid: int
    gid: int
    fs_group: int
    read_only_root: bool
    drop_all_capabilities: bool
    no_new_privileges: bool
    grace_s: int
    mounts: tuple[Mount, ...]

    @classmethod
    def image_defaults(cls, facts: ImageFacts) -> PodContainer:
        """The image's own defaults: its CMD, an emptyDir on each VOLUME, the site and the
        Secret at the CMD's directories, and the manifests' restrictions."""
        config, secrets = (str(p) for p in facts.mount_points)
        return cls(
            args=facts.cmd,
            uid=facts.uid,
            gid=facts.gid,
            fs_group=facts.gid,
            read_only_root=True,
            drop_all_capabilities=True,
            no_new_privileges=True,
            grace_s=30,
            mounts=(
                Mount(path=config, kind="configMap", volume="site", read_only=True),
                Mount(path=secrets, kind="secret", volume="secrets", read_only=True),
                *(Mount(path=str(v), kind="emptyDir", volume=str(v)) for v in facts.volumes),
            ),
        )

    @classmethod
    def from_deployment(cls, deployment: dict[str, Any]) -> PodContainer:
        """The Deployment's (k8s/) only container: its args, security context, grace period
        and volume mounts, each with its pod volume's type."""
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        pod_security = pod.get("securityContext", {})
        security = {**pod_security, **container.get("securityContext", {})}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        kinds = ("configMap", "secret", "emptyDir", "persistentVolumeClaim")
        mounts = []
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            (kind,) = [k for k in kinds if k in volume]
            mounts.append(
                Mount(
                    path=mount["mountPath"],
                    kind=kind,
                    volume=mount["name"],
                    read_only=bool(mount.get("readOnly", False)),
                )
            )
        return cls(
            args=tuple(str(a) for a in container.get("args", [])),
            uid=int(security["runAsUser"]),
            gid=int(security["runAsGroup"]),
            fs_group=int(pod_security["fsGroup"]),
            read_only_root=bool(security.get("readOnlyRootFilesystem", False)),
            drop_all_capabilities="ALL" in security.get("capabilities", {}).get("drop", []),
            no_new_privileges=security.get("allowPrivilegeEscalation") is False,
            grace_s=int(pod.get("terminationGracePeriodSeconds", 30)),
            mounts=tuple(mounts),
        )


@dataclass
class ContainerRun(SupervisorRun):
    """The image as the pod's one container, in the lab's pod namespace, as `spec` asks (the
    image's defaults, or the Deployment's container: PodContainer.from_deployment); HTTP on the
    image's default port (8080 in the pod's own network namespace). `process` is the attached
    `podman run --rm`, whose exit status is the container's.

    Volumes as kubelet makes them: the site ConfigMap (0444) and the Secret (0440, group
    fsGroup) with the `..data` layout, any other Secret (optional, e.g. TLS) as an empty such
    mount, an emptyDir as a fresh tmpfs owned by the pod's user, a PersistentVolumeClaim as a
    directory of the run given to fsGroup (setgid, group-writable)."""

    image: str = TAG
    facts: ImageFacts = field(default_factory=image_facts)
    spec: PodContainer | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.spec is None:
            self.spec = PodContainer.image_defaults(self.facts)
        self.fs_group = self.spec.fs_group
        self.sources: dict[str, Path] = {}  # mount path -> host directory, once argv() ran
        super().__post_init__()
        self.name = self.name or f"{self.lab.prefix}-asb{next(_names)}"
        self.log = self.run.path("log") / f"{self.name}.out"
        self.port = 8080

    @property
    def grace_s(self) -> int:
        assert self.spec is not None
        return self.spec.grace_s

    def _volume_flags(self, spec: PodContainer) -> list[str]:
        flags: list[str] = []
        self.sources.clear()
        for mount in spec.mounts:
            if mount.kind == "emptyDir":
                # Empty (no copy-up of the image's files), owned by the pod's user (U), as
                # fsGroup makes an emptyDir writable; podman ignores a tmpfs mode.
                flags += ["--tmpfs", f"{mount.path}:rw,nosuid,nodev,U,notmpcopyup"]
                continue
            if mount.kind == "configMap":
                source = self.config_mount
            elif mount.kind == "secret" and mount.volume == "secrets":
                source = self.secret_mount
            elif mount.kind == "secret":
                # An optional Secret the lab does not have: kubelet mounts it empty.
                source = self.run.host / "mounts" / mount.volume
                if not source.exists():
                    write_mount(source, {}, mode=0o440, group=spec.fs_group)
            else:  # persistentVolumeClaim: a directory of this run, as a fresh volume
                source = self.run.host / "volumes" / mount.volume
                source.mkdir(parents=True, exist_ok=True)
                os.chown(source, 0, spec.fs_group)
                os.chmod(source, 0o2775)
            self.sources[mount.path] = source
            flags += ["--volume", f"{source}:{mount.path}:{'ro' if mount.read_only else 'rw'}"]
        return flags

    def mounted_dirs(self, flag: str) -> list[Path]:
        """The host directories behind the container's `flag` (--config, --secrets) paths, in
        the order of its arguments."""
        assert self.spec is not None
        args = self.spec.args
        return [self.sources[v] for f, v in itertools.pairwise(args) if f == flag]

    def argv(self) -> list[str]:
        spec = self.spec
        assert spec is not None
        security: list[str] = [
            "--user",
            f"{spec.uid}:{spec.gid}",
            "--group-add",
            str(spec.fs_group),
        ]
        if spec.read_only_root:
            security += ["--read-only", "--read-only-tmpfs=false"]
        if spec.drop_all_capabilities:
            security += ["--cap-drop", "all"]
        if spec.no_new_privileges:
            security += ["--security-opt", "no-new-privileges"]
        return [
            "podman",
            *RUNTIME,
            "run",
            "--rm",
            "--name",
            self.name,
            "--network",
            f"ns:{NETNS_DIR / self.lab.pod}",
            *security,
            # As the lab's root filesystem does: no lookup leaves the lab (one that fails at
            # once; the host's resolver is unreachable from the pod namespace anyway).
            "--dns",
            "127.0.0.1",
            "--stop-timeout",
            str(spec.grace_s),
            *ULIMITS,
            *self._volume_flags(spec),
            self.image,
            *spec.args,
            *self.extra_args,
        ]

    def start(self) -> ContainerRun:
        self.process = proc.spawn(self.argv(), self.log)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def host_pid(self) -> int:
        """The container's PID 1 (the supervisor) as the host sees it."""
        done = _run(
            ["podman", "inspect", "--format", "{{.State.Pid}}", self.name], "podman inspect"
        )
        return int(done.stdout.strip())

    def container_id(self) -> str:
        done = _run(["podman", "inspect", "--format", "{{.Id}}", self.name], "podman inspect")
        return done.stdout.strip()

    def podman_stop(self, grace_s: int | None = None) -> subprocess.Popen[bytes]:
        """`podman stop` as kubelet stops a pod: SIGTERM, SIGKILL after the grace period."""
        return subprocess.Popen(
            [
                "podman",
                "stop",
                "--time",
                str(self.grace_s if grace_s is None else grace_s),
                self.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> int | None:
        """Stop (graceful) and always remove the container; its exit status."""
        try:
            if self.running():
                self.podman_stop().wait(self.grace_s + 15)
            if self.process is not None:
                try:
                    self.process.wait(15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
        finally:
            remove(self.name)
        return None if self.process is None else self.process.returncode


def remove(name: str) -> None:
    """Remove a container whatever its state (no error when it is already gone)."""
    subprocess.run(
        ["podman", "rm", "--force", "--ignore", "--time", "0", name],
        capture_output=True,
        check=False,
    )


def sweep_stale() -> list[str]:
    """Remove lab containers whose owning test run died (names carry the owner's PID)."""
    from lab.netns import PREFIX_RE, _pid_alive

    done = subprocess.run(
        ["podman", "ps", "--all", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    removed = []
    for name in done.stdout.split():
        match = PREFIX_RE.match(name)
        if match and not _pid_alive(int(match.group(1))):
            remove(name)
            removed.append(name)
    return removed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.container")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help=f"build {TAG} from image/Dockerfile with podman")
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            built = build()
        except BuildError as exc:
            print(f"image: {exc}", file=sys.stderr)
            return 1
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in built.seconds.items())
        size = image_size(built.tag) / 1e6
        print(f"image: built {built.tag} ({built.image_id[:12]}, {size:.0f} MB): {steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
