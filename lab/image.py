"""The container image's facts, read from image/Dockerfile (its final stage), so that tests which
rebuild the image's layout from the lab root filesystem (no container engine here) use exactly the
user, volumes, entrypoint and virtual environment the Dockerfile declares."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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
