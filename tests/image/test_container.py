"""The real image, built from image/Dockerfile with podman (as scripts/image.sh builds it) and run
as the Deployment in k8s/ runs the pod (its args, security context, grace period and volumes:
read-only root, uid 101, no capability, an emptyDir tmpfs or the claim on exactly each VOLUME, the
site and the Secrets mounted kubelet-style), in the lab's pod network namespace, with the lab's
provider (sipp registrar), desk phones and doorbell (sipp) around it.

One container serves the module; a test that stops it leaves the next test a fresh one. When the
image does not build, every test here fails with the build's output (never a skip)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import container, k8s, netns, sipp, sipprobe
from lab.asterisk import RunDir, wait_until
from lab.container import ContainerRun, PodContainer
from lab.image import ImageFacts, image_facts
from lab.netns import Lab
from lab.paths import REPO
from lab.phones import Phones
from lab.prometheus import http_get
from lab.rootfs import host_mirror
from lab.supervisor import read_dir
from supervisor.site.mounts import content_hash, read_mount

# The first test of the module (in any order) builds the image; cold, with an empty cache, that
# takes 2 to 4 minutes on 2 busy cores, more than pytest's default timeout here.
pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

EXAMPLE = REPO / "examples" / "home"


@pytest.fixture(scope="module")
def built(rootfs: Path) -> container.Built:
    """The image, built by what scripts/image.sh runs (podman's layer cache when unchanged)."""
    try:
        return container.build()
    except container.BuildError as exc:
        pytest.fail(f"the image did not build: {exc}", pytrace=False)


class Pod:
    """The lab around the pod, and the image running as the pod's container."""

    def __init__(self, lab: Lab, run: RunDir, image: str) -> None:
        self.lab, self.run, self.image = lab, run, image
        self.spec = PodContainer.from_deployment(k8s.one(k8s.build(), "Deployment"))
        self.site = read_dir(EXAMPLE / "site")
        self.secrets = read_dir(EXAMPLE / "secrets")
        self.current: ContainerRun | None = None
        self.phones = Phones(lab, run)
        self.registrar: sipp.Sipp | None = None
        self.calls: list[sipp.Sipp] = []

    def up(self) -> Pod:
        self.registrar = sipp.registrar(
            self.lab, self.run, netns.PROVIDER_V6, "pod1", self.secret("provider-password")
        )
        self.phones.start_ringer()
        return self

    def secret(self, key: str) -> str:
        return self.secrets[key].strip()

    def container(self) -> ContainerRun:
        """The running container, ready, with the desk phones registered to it."""
        if self.current is not None and self.current.running():
            return self.current
        if self.current is not None:
            self.current.stop()
        self.current = ContainerRun(
            self.lab, self.run, self.site, self.secrets, image=self.image, spec=self.spec
        ).start()
        self.current.wait_ready(60)
        self.phones.register(
            {"desk": self.secret("desk-password"), "kitchen": self.secret("kitchen-password")}
        )
        return self.current

    def doorbell_call(self, name: str, hold_ms: int) -> sipp.Sipp:
        call = sipp.call(
            self.lab,
            self.run,
            "doorbell",
            netns.DOORBELL_V4,
            f"{netns.POD_V4}:5060",
            "100",
            hold_ms=hold_ms,
            name=name,
            timeout_s=30,
        )
        self.calls.append(call)
        return call

    def down(self) -> None:
        for call in self.calls:
            call.stop()
        if self.current is not None:
            self.current.stop()
        self.phones.stop()
        if self.registrar is not None:
            self.registrar.stop()


@pytest.fixture(scope="module")
def pod(built: container.Built, rootfs: Path) -> Iterator[Pod]:
    container.sweep_stale()
    lab = Lab()
    run = RunDir(rootfs, f"{lab.prefix}-image")
    the_pod = Pod(lab, run, built.image_id)
    try:
        lab.up()
        run.create()
        yield the_pod.up()
    finally:
        try:
            the_pod.down()
        finally:
            run.remove()
            lab.down()


@pytest.fixture(scope="module")
def facts() -> ImageFacts:
    return image_facts()


def asterisk_pids(pod: Pod) -> list[int]:
    """The Asterisk daemons in the pod: not the hang watchdog's `asterisk -rx` consoles, which
    share the command name and come and go every few seconds."""
    return netns.asterisk_pids(pod.lab.pod)


def parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def proc_status(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


def mounts_of(pid: int) -> dict[str, tuple[str, str]]:
    """Mount point -> (file system type, options) as the container's process sees them."""
    found = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, _source, super_options = right.split()[:3]
        found[fields[4]] = (fstype, fields[5] + "," + super_options)
    return found


def regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def test_the_image_is_built_and_trimmed(built: container.Built, facts: ImageFacts) -> None:
    """The Dockerfile builds here; the image has no pip, build tools, docs or package caches."""
    assert built.image_id
    with container.mounted(built.image_id) as root:
        venv = root / facts.venv.relative_to("/")
        assert (venv / "bin" / "asterisk-supervisor").exists()
        assert (root / "usr/sbin/asterisk").exists()
        assert not (venv / "bin" / "pip").exists()
        assert not list(venv.glob("lib/python3*/site-packages/pip"))
        for tool in ("gcc", "cc", "make", "pip", "pip3", "sipp"):
            assert not (root / "usr/bin" / tool).exists(), tool
        # Regular files only: Debian's doc directories keep some symlinks to each other.
        docs = [p for p in (root / "usr/share/doc").rglob("*") if regular(p)]
        assert docs
        assert all(p.name == "copyright" for p in docs)
        for empty in ("usr/share/man", "usr/share/info", "var/lib/apt/lists", "var/cache/apt"):
            path = root / empty
            # info's "dir" is the (empty) index that the base keeps, not documentation.
            left = [p for p in path.rglob("*") if regular(p) and p.name != "dir"]
            assert not left, empty
        assert not any((root / "etc/asterisk").iterdir()), "the supervisor renders all config"


def test_a_failing_build_step_is_named_with_its_output(
    built: container.Built, tmp_path: Path
) -> None:
    """A build step that fails raises BuildError naming the step, with the step's own output
    (what the module's fixture turns into a failure of every test here, never a skip)."""
    base = container.ensure_base(host_mirror())
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        f"FROM {base}\nRUN echo 'E: Unable to locate package nonesuch' >&2; exit 100\n"
    )
    argv = container._podman_build("--layers=false", "-f", str(dockerfile), str(tmp_path))
    with pytest.raises(container.BuildError) as raised:
        container._run(argv, "podman build of a broken Dockerfile")
    message = str(raised.value)
    assert message.startswith("podman build of a broken Dockerfile failed (exit ")
    assert "E: Unable to locate package nonesuch" in message


def test_a_killed_builds_leftovers_are_swept(built: container.Built, tmp_path: Path) -> None:
    """A podman build killed mid-step leaves a working container in podman's storage; the next
    build's sweep removes it (and nothing else), so killed runs never pile up."""
    (tmp_path / "Dockerfile").write_text(
        f"FROM {container.ensure_base(host_mirror())}\nRUN sleep 3\n"
    )
    argv = container._podman_build("--layers=false", str(tmp_path))

    def working() -> set[str]:
        done = subprocess.run(
            ["podman", "ps", "--all", "--external", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return {n for n in done.stdout.split() if "working-container" in n}

    # Under the build lock: no build of another run is going on whose container the sweep
    # would take.
    with container._locked("build"):
        build = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(working, 20, interval=0.1, what="the build's working container")
        finally:
            build.kill()
            build.wait(10)
        left = working()
        assert left
        assert set(container._sweep_build_leftovers()) >= left
        assert not working()


def test_the_container_becomes_ready_as_kubernetes_runs_it(pod: Pod, facts: ImageFacts) -> None:
    """Ready, the supervisor PID 1 with Asterisk its child, uid 101, no capabilities, nothing
    writable but each VOLUME (emptyDirs as tmpfs, the claim), the site and Secrets read-only."""
    run = pod.container()
    supervisor = run.host_pid()
    (asterisk,) = asterisk_pids(pod)
    assert parent(asterisk) == supervisor
    assert "asterisk-supervisor" in Path(f"/proc/{supervisor}/cmdline").read_text()
    assert proc_status(supervisor, "NSpid").split()[-1] == "1"
    for pid in (supervisor, asterisk):
        assert proc_status(pid, "Uid").split() == [str(facts.uid)] * 4
        assert proc_status(pid, "Gid").split()[0] == str(facts.gid)
        for capabilities in ("CapEff", "CapPrm", "CapBnd"):
            assert int(proc_status(pid, capabilities), 16) == 0, capabilities
        assert proc_status(pid, "NoNewPrivs") == "1"
    mounts = mounts_of(supervisor)
    assert "ro" in mounts["/"][1].split(",")
    volumes = {str(v) for v in facts.volumes}
    writable = {
        point
        for point, (_fstype, options) in mounts.items()
        if "rw" in options.split(",")[:1]
        and not point.startswith(("/proc", "/sys", "/dev"))
        and point not in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv")
    }

    # /var/run is a symlink to /run in Debian: the mount is on the resolved path.
    def seen(path: str) -> str:
        return path.replace("/var/run/", "/run/")

    assert writable == {seen(v) for v in volumes}
    spec = pod.spec
    assert {seen(m.path) for m in spec.mounts if not m.read_only} == writable
    for mount in spec.mounts:
        fstype, options = mounts[seen(mount.path)]
        assert (fstype == "tmpfs") == (mount.kind == "emptyDir"), mount
        assert options.split(",")[0] == ("ro" if mount.read_only else "rw"), mount
    for point in (str(p) for p in facts.mount_points):
        assert "ro" in mounts[point][1].split(",")[:1], point
    secret = Path(f"/proc/{supervisor}/root{facts.mount_points[1]}")
    for key in pod.secrets:
        info = (secret / key).stat()
        assert (oct(info.st_mode & 0o777), info.st_gid) == (oct(0o440), spec.fs_group), key
    denied = subprocess.run(
        ["podman", "exec", run.name, "touch", "/opt/probe"], capture_output=True, text=True
    )
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr
    rendered = Path(f"/proc/{asterisk}/root/etc/asterisk/pjsip.conf").read_text()
    assert netns.POD_V6 in rendered


def test_the_trunk_registers_with_the_provider(pod: Pod) -> None:
    """The trunk registers from the pod's own address with the lab provider's registrar."""
    run = pod.container()
    wait_until(
        lambda: run.metric("asterisk_pjsip_outbound_registration_status") == 1.0,
        30,
        interval=0.3,
        what="the trunk to register",
    )


def test_a_doorbell_call_is_answered(pod: Pod) -> None:
    """The IPv4-only doorbell calls the pod's /32; the desk phones ring and one answers."""
    run = pod.container()
    before = run.metric("asterisk_supervisor_calls_total", {"outcome": "answered"}) or 0.0
    call = pod.doorbell_call("doorbell-answered", hold_ms=500)
    assert call.wait(40) == 0, call.output()[-1500:]
    wait_until(
        lambda: (
            (run.metric("asterisk_supervisor_calls_total", {"outcome": "answered"}) or 0) > before
        ),
        10,
        what="the answered call to be counted",
    )


def outside_get(pod: Pod, address: str, path: str) -> tuple[int, str]:
    """GET from the scanner's namespace (another network) to the pod's public address."""
    host = f"[{address}]" if ":" in address else address
    try:
        return 200, http_get(f"http://{host}:8080{path}", pod.lab.scanner).decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_from_outside_sip_answers_and_http_serves_only_the_probes(pod: Pod) -> None:
    """From another network, to the pod's public addresses: SIP answers, /healthz and /readyz
    answer with nothing more than ok, /status and /metrics are refused (the allow-list's
    default, no NetworkPolicy needed), while the pod itself still reads them."""
    run = pod.container()
    for pod_address, scanner in (
        (netns.POD_V6, netns.SCANNER_V6),
        (netns.POD_V4, netns.SCANNER_V4),
    ):
        answer = sipprobe.options_in(pod.lab, "scanner", scanner, pod_address, timeout=3.0)
        assert answer is not None, f"no SIP answer on {pod_address}"
        assert outside_get(pod, pod_address, "/healthz")[0] == 200
        assert outside_get(pod, pod_address, "/readyz") == (200, "ready\n")
        for path in ("/status", "/status?format=json", "/metrics"):
            assert outside_get(pod, pod_address, path) == (403, "forbidden\n"), path
    assert run.get("/status")[0] == 200
    assert "asterisk_supervisor_ready 1.0" in run.get("/metrics")[1]


def test_a_kubelet_swap_of_the_site_is_applied_live(pod: Pod) -> None:
    """A new site published kubelet-style (..data swap) goes live in the running container: the
    new config hash, the new extension in Asterisk's dialplan, no Asterisk restart."""
    run = pod.container()
    (asterisk,) = asterisk_pids(pod)
    site = dict(pod.site)
    text = site["site.yaml"]
    assert '    "12": kitchen\n' in text
    site["site.yaml"] = text.replace('    "12": kitchen\n', '    "12": kitchen\n    "13": desk\n')
    run.update_site(site)
    # The hash covers every --config and --secrets mount, in that order (the TLS one included).
    mounts = [*run.mounted_dirs("--config"), *run.mounted_dirs("--secrets")]
    digest = content_hash([read_mount(m) for m in mounts])
    wait_until(
        lambda: run.metric("asterisk_supervisor_config_info", {"hash": digest}) == 1,
        15,
        interval=0.2,
        what="the new site to be live",
    )
    assert run.metric("asterisk_supervisor_last_reload_successful") == 1.0
    dialplan = subprocess.run(
        ["podman", "exec", run.name, "asterisk", "-rx", "dialplan show"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert re.search(r"'13' =>", dialplan.stdout), dialplan.stdout[-2000:] + dialplan.stderr
    assert asterisk_pids(pod) == [asterisk], "a dialplan change must not restart Asterisk"
    assert run.ready()


def test_kill_9_of_asterisk_restarts_it_inside_the_same_container(pod: Pod) -> None:
    """SIGKILL to Asterisk (its PID as the host sees it): the supervisor, still PID 1 of the same
    container, starts a new Asterisk and the pod is ready again."""
    run = pod.container()
    container_id, supervisor = run.container_id(), run.host_pid()
    restarts = run.metric("asterisk_supervisor_asterisk_restarts_total") or 0.0
    (first,) = asterisk_pids(pod)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: set(asterisk_pids(pod)) - {first}, 30, interval=0.1, what="a new Asterisk")
    run.wait_ready(30)
    (second,) = set(asterisk_pids(pod)) - {first}
    assert parent(second) == supervisor
    assert run.container_id() == container_id
    assert run.host_pid() == supervisor
    assert run.metric("asterisk_supervisor_asterisk_restarts_total") == restarts + 1


def test_podman_stop_drains_an_active_call_and_exits_0(pod: Pod) -> None:
    """`podman stop` (SIGTERM, SIGKILL after the grace period) mid-call: the call finishes
    normally, then the container exits 0 well within the grace period and is gone."""
    run = pod.container()
    hold_s = 5.0
    call = pod.doorbell_call("doorbell-draining", hold_ms=int(hold_s * 1000))
    wait_until(
        lambda: run.metric("asterisk_supervisor_calls_active") == 1.0,
        15,
        interval=0.1,
        what="the call to be up",
    )
    answered_at = time.monotonic()
    grace_s = pod.spec.grace_s
    stopper = run.podman_stop(grace_s)
    wait_until(lambda: not run.ready(), 5, interval=0.05, what="not ready while draining")
    assert call.wait(30) == 0, call.output()[-1500:]
    assert stopper.wait(grace_s + 10) == 0
    assert run.process is not None
    assert run.process.wait(10) == 0, run.output()[-3000:]
    elapsed = time.monotonic() - answered_at
    assert hold_s - 1.5 < elapsed < grace_s, elapsed
    assert "drain complete" in run.output()
    # --rm: nothing of this run is left for the next (names also carry the run's PID prefix).
    assert run.name.startswith(f"asl{os.getpid()}x")
    exists = subprocess.run(["podman", "container", "exists", run.name], check=False)
    assert exists.returncode == 1
