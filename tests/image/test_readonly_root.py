"""The image's root filesystem, read-only, as the pod runs it: the container's own command line as
the image's user in the pod namespace, only the declared volumes writable, the site ConfigMap and
the Secret mounted kubelet-style; the pod becomes ready with a real Asterisk."""

from __future__ import annotations

import subprocess
import tempfile
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from lab import image, netns, sipp
from lab.asterisk import RunDir
from lab.fixtures import Started
from lab.kubelet import write_mount
from lab.netns import Lab
from lab.paths import REPO
from lab.prometheus import free_port, http_get
from lab.supervisor import read_dir

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"


@pytest.fixture(scope="module")
def image_tree(rootfs: Path) -> Iterator[tuple[Path, image.ImageFacts]]:
    facts = image.image_facts()
    with tempfile.TemporaryDirectory(prefix="asb-image-") as work:
        layer = image.build_layer(rootfs, Path(work) / "layer", facts)
        with image.image_root(rootfs, layer, Path(work) / "root", facts) as tree:
            yield tree, facts


def bind_read_only(source: Path, target: Path) -> None:
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)


def test_the_image_runs_read_only_as_its_user_and_becomes_ready(
    image_tree: tuple[Path, image.ImageFacts],
    lab: Lab,
    run_dir: RunDir,
    started: Started,
    tmp_path: Path,
) -> None:
    """ENTRYPOINT+CMD as uid 101 on the read-only root: Asterisk starts and /readyz is 200."""
    tree, facts = image_tree
    site_dir, secret_dir = tmp_path / "site", tmp_path / "secrets"
    secrets = read_dir(EXAMPLE / "secrets")
    write_mount(site_dir, read_dir(EXAMPLE / "site"))
    write_mount(secret_dir, secrets, mode=0o644)
    config_point, secret_point = (image.resolve_in(tree, p) for p in facts.mount_points)
    for source, target in ((site_dir, config_point), (secret_dir, secret_point)):
        bind_read_only(source, target)
        started.add(lambda t=target: subprocess.run(["umount", "-l", str(t)], check=False))
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    started.add(registrar.stop)

    port = free_port(lab.pod)
    env = [f"{k}={v}" for k, v in facts.env.items()]
    argv = lab.netns_exec(
        "pod",
        [
            "chroot",
            f"--userspec={facts.uid}:{facts.gid}",
            str(tree),
            "env",
            "-i",
            *env,
            *facts.argv,
            "--http-listen",
            f"127.0.0.1:{port}",
        ],
    )
    log = tmp_path / "entrypoint.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    started.add(stop)
    deadline = time.monotonic() + 60
    status = 0
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            http_get(f"http://127.0.0.1:{port}/readyz", lab.pod)
            status = 200
            break
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    assert status == 200, log.read_text()[-4000:]
    # Asterisk runs as the image's user, from the image's own binary, on the rendered config.
    pids = netns.asterisk_pids(lab.pod)
    assert pids
    assert all(Path(f"/proc/{p}").stat().st_uid == facts.uid for p in pids)
    rendered = image.resolve_in(tree, PurePosixPath("/etc/asterisk")) / "pjsip.conf"
    assert "2001:db8:e8b1::1:1" in rendered.read_text()
    stop()
    assert process.returncode == 0, log.read_text()[-3000:]
