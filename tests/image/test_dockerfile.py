"""The Dockerfile's facts that the manifests, the lab and the entrypoint contract rely on.

No container engine runs here, so the Dockerfile is parsed (dockerfile-parse, via lab.image) and
its declared layout is checked against the contract and the other files that depend on it."""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath

import pytest

from lab import image
from lab.paths import PACKAGE_LIST, REPO
from lab.rootfs import COMPLETE_MARK, asterisk_ids, rootfs_path

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
        pytest.skip(f"no cached lab root filesystem at {tree} (built by scripts/setup.sh)")
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


def test_all_stages_share_the_snapshot_base(facts: image.ImageFacts) -> None:
    """Build and runtime stages derive from the one stage whose apt points at the snapshot."""
    first, *rest = facts.stages
    assert first.base == "${DEBIAN_BASE}"
    assert [s.base for s in rest] == [first.name] * len(rest)
    args = dict(a.partition("=")[::2] for a in first.values("ARG"))
    assert re.fullmatch(r"\d{8}T\d{6}Z", args["DEBIAN_SNAPSHOT"])
    assert args["DEBIAN_ARCHIVE"] == "", "the repository names no mirror: no default archive URL"
    source = " ".join(run_lines(first))
    assert "${DEBIAN_ARCHIVE%/}/${DEBIAN_SNAPSHOT}/" in source
    assert "Suites: sid" in source


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
