"""The Dockerfile's facts that the manifests, the lab and the entrypoint contract rely on.

The Dockerfile is parsed (dockerfile-parse, via lab.image) and its declared layout is checked
against the contract and the other files that depend on it, in a second, without building it
(tests/image/test_container.py builds and runs it)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from lab import image, required
from lab.paths import PACKAGE_LIST, REPO
from lab.rootfs import COMPLETE_MARK, asterisk_ids, packages, rootfs_path
from supervisor.process.malloc import RUN_ENVIRONMENT

CONTRACT_VOLUMES = {
    "/etc/asterisk",
    "/var/run/asterisk",
    "/var/spool/asterisk",
    "/var/lib/asterisk",
    "/var/log/asterisk",
    "/tmp",
}


@pytest.fixture(scope="module")
def facts() -> image.ImageFacts:
    return image.image_facts()


def run_lines(stage: image.Stage) -> list[str]:
    return stage.values("RUN")


def test_runs_as_asterisk_uid_101(facts: image.ImageFacts) -> None:
    """The image runs as uid/gid 101 (asterisk), numerically, and the build checks that id."""
    assert (facts.uid, facts.gid) == (101, 101)
    assert facts.uid != 0
    runtime = facts.stages[-1]
    checks = [r for r in run_lines(runtime) if "id -u asterisk" in r]
    assert checks, "the build must verify that the asterisk user really has the USER's id"
    assert f'"{facts.uid}:{facts.gid}"' in checks[0]


def test_uid_matches_the_lab_root_filesystem(facts: image.ImageFacts) -> None:
    """The lab's sid tree (same package list) gives the asterisk user the image's uid/gid."""
    tree = rootfs_path()
    if not (tree / COMPLETE_MARK).exists():
        required.missing(f"no cached lab root filesystem at {tree} (built by scripts/setup.sh)")
    assert asterisk_ids(tree) == (facts.uid, facts.gid)


def test_entrypoint_and_default_args_follow_the_contract(facts: image.ImageFacts) -> None:
    """ENTRYPOINT is `asterisk-supervisor run`, CMD gives the contract's mount directories."""
    assert facts.entrypoint == ("asterisk-supervisor", "run")
    assert facts.cmd == (
        "--config",
        "/etc/asterisk-supervisor/site",
        "--secrets",
        "/etc/asterisk-supervisor/secrets",
    )


def test_every_writable_path_is_a_volume(facts: image.ImageFacts) -> None:
    """The declared volumes are exactly the contract's writable paths (read-only root otherwise)."""
    assert {str(v) for v in facts.volumes} == CONTRACT_VOLUMES
    assert len(facts.volumes) == len(CONTRACT_VOLUMES)


def test_volume_directories_are_owned_by_asterisk(facts: image.ImageFacts) -> None:
    """The build creates every non-/tmp volume directory owned by the image's user."""
    made = " ".join(r for r in run_lines(facts.stages[-1]) if "install -d" in r)
    assert "-o asterisk -g asterisk" in made
    for volume in CONTRACT_VOLUMES - {"/tmp"}:
        path = volume.replace("/var/run/", "/run/")  # /var/run is a symlink to /run in Debian
        assert re.search(rf"\s{re.escape(path)}(\s|$)", made), f"{volume} not created"


def test_installs_exactly_the_shared_package_list(facts: image.ImageFacts) -> None:
    """The runtime stage installs image/packages.txt through xargs and names no package itself."""
    assert (REPO / facts.package_list).resolve() == PACKAGE_LIST.resolve()
    runtime = facts.stages[-1]
    installs = [r for r in run_lines(runtime) if "apt-get install" in r]
    assert len(installs) == 1
    (install,) = installs
    target = next(
        shlex.split(v)[-1] for v in runtime.values("COPY") if facts.package_list in shlex.split(v)
    )
    assert target in install
    assert re.search(r"\|\s*(\S+=\S+\s+)?xargs apt-get install", install)
    words = install.split("apt-get install", 1)[1].split("&&", 1)[0].split()
    assert all(w.startswith("-") for w in words), f"packages named outside the list: {words}"


def test_supervisor_lives_in_the_venv_on_path(facts: image.ImageFacts) -> None:
    """The supervisor is pip-installed into /opt/asterisk-supervisor, copied in, first on PATH."""
    assert facts.venv == PurePosixPath("/opt/asterisk-supervisor")
    assert facts.venv in facts.copied_from_build
    assert facts.env["PATH"].split(":")[0] == str(facts.venv / "bin")
    build = next(s for s in facts.stages if s.name == "build")
    made = " ".join(run_lines(build))
    assert f"python3 -m venv {facts.venv}" in made
    assert f"{facts.venv}/bin/pip install" in made
    assert facts.executable == PurePosixPath("/opt/asterisk-supervisor/bin/asterisk-supervisor")


def test_runs_the_supervisor_with_the_labs_environment(facts: image.ImageFacts) -> None:
    """The image sets what the lab's supervisor runs set (its allocator): the benchmarks measure
    the process the image runs."""
    for name, value in RUN_ENVIRONMENT.items():
        assert facts.env.get(name) == value, name


def test_all_stages_share_the_snapshot_base(facts: image.ImageFacts) -> None:
    """Every later stage derives (through others) from the one stage whose apt points at the
    snapshot, and the runtime stage directly from it."""
    first, *rest = facts.stages
    assert first.base == "${DEBIAN_BASE}"
    names = {first.name}
    for stage in rest:
        assert stage.base in names, f"stage {stage.name} derives from {stage.base}"
        names.add(stage.name)
    assert facts.stages[-1].base == first.name
    args = dict(a.partition("=")[::2] for a in first.values("ARG"))
    assert re.fullmatch(r"\d{8}T\d{6}Z", args["DEBIAN_SNAPSHOT"])
    assert args["DEBIAN_ARCHIVE"] == "", "the repository names no mirror: no default archive URL"
    source = " ".join(run_lines(first))
    assert "${DEBIAN_ARCHIVE%/}/${DEBIAN_SNAPSHOT}/" in source
    assert "Suites: sid" in source


@pytest.mark.parametrize(
    ("snapshot", "uri"),
    [
        ("20261101T000000Z", "http://archive.invalid/debian/20261101T000000Z/"),
        ("", "http://archive.invalid/debian"),
    ],
)
def test_apt_source_is_the_snapshot_or_a_plain_mirror(
    facts: image.ImageFacts, tmp_path: Path, snapshot: str, uri: str
) -> None:
    """The base stage's RUN writes the snapshot's URI, or the archive itself when DEBIAN_SNAPSHOT
    is empty (scripts/image.sh: the host's plain mirror): run on a scratch tree."""
    (script,) = run_lines(facts.stages[0])
    for directory in ("etc/apt/sources.list.d", "etc/apt/apt.conf.d", "etc/dpkg/dpkg.cfg.d"):
        (tmp_path / directory).mkdir(parents=True)
    confined = script.replace(" /etc/", f" {tmp_path}/etc/")
    assert "/etc/" not in confined.replace(f"{tmp_path}/etc/", "")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", confined],
        env={
            "PATH": os.environ["PATH"],
            "DEBIAN_ARCHIVE": "http://archive.invalid/debian",
            "DEBIAN_SNAPSHOT": snapshot,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sources = (tmp_path / "etc/apt/sources.list.d/debian-snapshot.sources").read_text()
    assert f"URIs: {uri}\n" in sources
    nodoc = (tmp_path / "etc/dpkg/dpkg.cfg.d/80asterisk-supervisor-nodoc").read_text()
    assert "path-exclude=/usr/share/doc/*" in nodoc
    assert "path-include=/usr/share/doc/*/copyright" in nodoc


def test_lab_only_packages_stay_out_of_the_image(facts: image.ImageFacts, tmp_path: Path) -> None:
    """The runtime stage's filter, run on image/packages.txt, keeps every package of the lab's
    list except those marked lab-only (sipp)."""
    install = next(r for r in run_lines(facts.stages[-1]) if "apt-get install" in r)
    target = next(
        shlex.split(v)[-1] for v in facts.stages[-1].values("COPY") if facts.package_list in v
    )
    pipeline = install.split("&&", 1)[1].split("|", 1)[0].replace(target, str(PACKAGE_LIST))
    done = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, check=True)
    kept = done.stdout.split()
    assert "sip-tester" in packages()
    assert kept == [p for p in packages() if p != "sip-tester"]


def test_names_no_host(facts: image.ImageFacts) -> None:
    """The Dockerfile contains no URL or host name (the archive is a build argument)."""
    text = image.DOCKERFILE.read_text()
    assert not re.search(r"[a-z]+://", text)
    assert not re.search(r"\b[\w-]+\.(org|com|net|io)\b", text)


def test_oci_labels(facts: image.ImageFacts) -> None:
    """The image carries the standard OCI labels, licence Apache-2.0 like the package."""
    for key in ("title", "description", "licenses", "version", "revision", "created", "source"):
        assert facts.labels.get(f"org.opencontainers.image.{key}"), key
    assert facts.labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_exposes_sip_rtp_and_http(facts: image.ImageFacts) -> None:
    """SIP 5060/udp, RTP 10000-20000/udp and HTTP 8080/tcp: all unprivileged ports."""
    assert set(facts.exposed) == {"5060/udp", "10000-20000/udp", "8080/tcp"}
