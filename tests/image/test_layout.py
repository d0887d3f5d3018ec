"""The image's layout, rebuilt without a container engine: the lab's root filesystem plus the
supervisor installed as the Dockerfile does (lab.image), mounted read-only with a tmpfs on each
VOLUME, run as the image's user."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import image

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def facts() -> image.ImageFacts:
    return image.image_facts()


@pytest.fixture(scope="module")
def tree(
    rootfs: Path, facts: image.ImageFacts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The image's root filesystem, read-only, its volumes empty tmpfs mounts."""
    work = tmp_path_factory.mktemp("image")
    layer = image.build_layer(rootfs, work / "layer", facts)
    with image.image_root(rootfs, layer, work / "root", facts) as root:
        yield root


def as_image_user(
    tree: Path, facts: image.ImageFacts, argv: list[str]
) -> subprocess.CompletedProcess[str]:
    """Run argv in the tree as the image's USER with only the image's ENV."""
    env = [f"{k}={v}" for k, v in facts.env.items()]
    return subprocess.run(
        ["chroot", f"--userspec={facts.uid}:{facts.gid}", str(tree), "env", "-i", *env, *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_entrypoint_resolves_to_the_venv_script(tree: Path, facts: image.ImageFacts) -> None:
    """With the image's PATH, ENTRYPOINT's program is the venv's console script, and it runs."""
    found = as_image_user(tree, facts, ["sh", "-c", f"command -v {facts.entrypoint[0]}"])
    assert found.stdout.strip() == str(facts.executable)
    done = as_image_user(tree, facts, [facts.entrypoint[0], "--help"])
    assert done.returncode == 0, done.stderr
    assert "asterisk-supervisor" in done.stdout


def test_every_supervisor_module_imports_under_the_image_python(
    tree: Path, facts: image.ImageFacts
) -> None:
    """All of the package's modules import with the sid interpreter and the installed wheels."""
    code = (
        "import pkgutil, importlib, supervisor\n"
        "names = [m.name for m in pkgutil.walk_packages(supervisor.__path__, 'supervisor.')\n"
        "         if not m.name.endswith('__main__')]\n"
        "for name in names: importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    done = as_image_user(tree, facts, [str(facts.venv / "bin" / "python"), "-c", code])
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 5


def test_root_is_read_only_and_only_the_volumes_are_writable(
    tree: Path, facts: image.ImageFacts
) -> None:
    """As the image's user nothing but the declared volumes can be written."""
    volumes = " ".join(str(v) for v in facts.volumes)
    script = (
        f"for d in {volumes}; do touch $d/.probe || echo 'not writable:' $d; done; "
        f"for d in / /etc /opt {facts.venv} /usr /var /var/cache/asterisk; do "
        "touch $d/.probe 2>/dev/null && echo 'writable:' $d; done; true"
    )
    done = as_image_user(tree, facts, ["sh", "-c", script])
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    as_root = subprocess.run(
        ["touch", str(tree / "opt" / ".probe")], capture_output=True, text=True
    )
    assert "Read-only file system" in as_root.stderr


def test_config_and_secret_mount_points_exist(tree: Path, facts: image.ImageFacts) -> None:
    """The CMD's --config and --secrets directories exist (empty) to mount the pod's volumes on."""
    assert [str(p) for p in facts.mount_points] == [
        "/etc/asterisk-supervisor/site",
        "/etc/asterisk-supervisor/secrets",
    ]
    for mount_point in facts.mount_points:
        path = image.resolve_in(tree, mount_point)
        assert path.is_dir()
        assert not any(path.iterdir())


def test_the_mail_enqueue_script_queues_an_e_mail_as_the_image_user(
    tree: Path, facts: image.ImageFacts
) -> None:
    """app_voicemail's mailcmd as the image renders it (the installed package's enqueue.sh, the
    queue on the spool volume) runs with the image's sh and coreutils as its user: queued."""
    python = str(facts.venv / "bin" / "python")
    code = (
        "from supervisor.settings import Settings\n"
        "context = Settings(config_dirs=()).render_context('x' * 16)\n"
        "print(context.mail_enqueue, context.mail_queue)\n"
    )
    paths = as_image_user(tree, facts, [python, "-c", code])
    assert paths.returncode == 0, paths.stderr
    script, queue = paths.stdout.split()
    assert any(queue.startswith(f"{volume}/") for volume in facts.volumes), queue
    done = as_image_user(
        tree,
        facts,
        [
            "sh",
            "-c",
            f"mkdir -p {queue} && printf 'To: desk@example.org\\n\\nhello\\n' | "
            f"/bin/sh {script} {queue} 5 1000 && ls -l {queue}",
        ],
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()[1:]  # after ls's "total"
    assert line.startswith("-rw------- "), line
    assert line.endswith(".eml"), line
