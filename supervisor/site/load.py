"""Loading a site: config mounts (YAML) + secret mounts -> a validated, resolved `LoadedSite`.

Every problem found anywhere (unreadable files, YAML syntax, unknown keys, wrong types, broken
references, missing or unusable Secret keys) is collected and raised at once as `SiteInvalid`,
each with its file, line and key path. Secret values never appear in a message.
"""

from __future__ import annotations

import collections
import time
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath

from supervisor.site import audio as audiofiles
from supervisor.site import checks, staged
from supervisor.site.errors import Problem, SiteInvalid
from supervisor.site.flowchecks import audio_references
from supervisor.site.limits import (
    MAX_AUDIO_FILES,
    MAX_DIRS,
    MAX_PROBLEMS,
    MAX_SITE_BYTES,
    MAX_SITE_FILES,
    MiB,
)
from supervisor.site.messages import validation_problems
from supervisor.site.model import Site
from supervisor.site.mounts import Mount, content_hash, read_mount
from supervisor.site.options import check as option_problems
from supervisor.site.phones import check as phone_problems
from supervisor.site.prune import prune
from supervisor.site.raw import raw_problems
from supervisor.site.resolve import ResolvedSite, resolve
from supervisor.site.secretvalues import secret_problems, tls_material
from supervisor.site.sources import Sources
from supervisor.site.uses import asterisk_problems
from supervisor.site.yamlsource import Origin, Path, key_name, parse
from supervisor.tls import certs

SITE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedSite:
    """A valid site, the Secret values it references (key -> value: passwords and PEM texts),
    the mounts' content hash, and each tls transport's checked certificate (by transport)."""

    site: ResolvedSite
    secrets: Mapping[str, str] = field(repr=False)
    hash: str
    certificates: Mapping[str, certs.CertInfo] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    #: The site's checked audio files, by their name in the config directories (docs/audio.md).
    audio: Mapping[str, audiofiles.Audio] = field(
        default_factory=lambda: types.MappingProxyType({}), repr=False
    )
    #: Where each key path was written (for problems found later, e.g. by the output guard).
    origins: Mapping[Path, Origin] = field(
        default_factory=lambda: types.MappingProxyType({}), repr=False
    )

    def problem(self, path: Path, message: str) -> Problem:
        """A problem located at the nearest written key of `path`."""
        for end in range(len(path), 0, -1):
            origin = self.origins.get(path[:end])
            if origin is not None:
                return Problem(origin.file, origin.line, key_name(path), message)
        first = min((o.file for o in self.origins.values()), default="site")
        return Problem(first, None, key_name(path), message)


def load_site(
    config: Sequence[Mount],
    secrets: Sequence[Mount] | None,
    *,
    now: float | None = None,
    digest: str | None = None,
) -> LoadedSite:
    """Validate the site in `config` against `secrets`; raises SiteInvalid with every problem.

    `secrets=None` (no Secret at hand, e.g. checking a ConfigMap in CI) skips the secret checks
    and fills each referenced password with a placeholder `(secret KEY)`. `now` (default: the
    clock) decides whether certificates are valid. `digest`: the mounts' content hash when the
    caller has it already (the reload path hashes each snapshot once).
    """
    problems: list[Problem] = [p for m in config for p in m.problems]
    sources = Sources(complete=not problems)
    problems += _count_problems(config, secrets)
    files, present, found = _audio_files(config)
    problems += found
    names = [name for m in config for name in m.files if name.endswith(SITE_SUFFIXES)]
    counts = collections.Counter(names)
    total = 0
    for mount in config:
        for name in sorted(mount.files):
            if not name.endswith(SITE_SUFFIXES):
                continue
            shown = name if counts[name] == 1 else str(mount.path / name)
            total += len(mount.files[name])
            if len(sources.files) >= MAX_SITE_FILES or total > MAX_SITE_BYTES:
                limit = (
                    f"more than {MAX_SITE_FILES} site files"
                    if len(sources.files) >= MAX_SITE_FILES
                    else f"the site files hold more than {MAX_SITE_BYTES // MiB} MiB together"
                )
                problems.append(Problem(shown, None, "", f"not read: {limit}"))
                sources.complete = False
                continue
            sources.files.append(shown)
            doc, found = parse(shown, mount.files[name].decode("utf-8"))
            problems += found
            problems += sources.merge(doc)
    if not sources.files:
        where = ", ".join(str(m.path) for m in config) or "no config directory was given"
        problems.append(Problem(where, None, "", "no site file (*.yaml) found"))
        sources.complete = False
    if problems:
        # Still report the field problems of what could be read, so one run lists them all.
        raise SiteInvalid(problems + _partial_problems(sources))
    try:
        site = staged.validate(sources.data)
    except staged.Invalid as exc:
        errors = exc.errors
        problems = validation_problems(errors, sources)
        if len(errors) > MAX_PROBLEMS:  # the second look could not be reported anyway
            raise SiteInvalid(problems) from None
        failed = [tuple(p for p in e["loc"] if p != "[key]") for e in errors]
        raise SiteInvalid(problems, _second_look(sources, failed, secrets)) from None
    problems += _semantic_problems(site, sources, secrets)
    problems += _audio_use(site, sources, present)
    if problems:
        raise SiteInvalid(problems)
    values, _ = secret_problems(site, sources, secrets)
    resolved = resolve(site)
    pem, certificates, problems = tls_material(
        resolved, sources, secrets, time.time() if now is None else now
    )
    if problems:
        raise SiteInvalid(problems)
    return LoadedSite(
        site=resolved,
        secrets=types.MappingProxyType({**values, **pem}),
        hash=digest if digest is not None else content_hash([*config, *(secrets or ())]),
        certificates=types.MappingProxyType(certificates),
        audio=types.MappingProxyType(files),
        origins=types.MappingProxyType(sources.origins),
    )


def _audio_files(
    config: Sequence[Mount],
) -> tuple[dict[str, audiofiles.Audio], set[str], list[Problem]]:
    """The audio files of the config directories, checked: (name -> file, every name present,
    problems located at the file). Past MAX_AUDIO_FILES one problem says so and the rest are
    not checked (their names still count as present: no second problem at the keys)."""
    files: dict[str, audiofiles.Audio] = {}
    where: dict[str, str] = {}
    problems: list[Problem] = []
    for mount in config:
        for name in sorted(mount.files):
            if not audiofiles.is_audio_name(name):
                continue
            shown = str(mount.path / name)
            if name in where:
                problems.append(
                    Problem(shown, None, "", f"duplicate audio file (also {where[name]})")
                )
                continue
            where[name] = shown
            if len(where) == MAX_AUDIO_FILES + 1:
                limit = MAX_AUDIO_FILES
                problems.append(Problem(shown, None, "", f"more than {limit} audio files"))
            if len(where) > MAX_AUDIO_FILES:
                continue
            try:
                files[name] = audiofiles.check(name, mount.files[name])
            except audiofiles.AudioRefused as exc:
                problems.append(Problem(shown, None, "", str(exc)))
    return files, set(where), problems


def _audio_use(site: Site, sources: Sources, present: set[str]) -> list[Problem]:
    """A site audio file named by the site that no config directory holds."""
    return [
        sources.problem(
            path, f"no audio file {name!r} in the config directories (ConfigMap or volume)"
        )
        for path, name in audio_references(site)
        if name not in present
    ]


def _count_problems(config: Sequence[Mount], secrets: Sequence[Mount] | None) -> list[Problem]:
    problems = []
    for kind, mounts in (("config", config), ("secret", secrets or ())):
        if len(mounts) > MAX_DIRS:
            where = str(mounts[MAX_DIRS].path)
            problems.append(Problem(where, None, "", f"more than {MAX_DIRS} {kind} directories"))
    return problems


def _partial_problems(sources: Sources) -> list[Problem]:
    """Field problems of a site some of whose parts could not be read: only those that cannot
    come from the missing parts (no "required" when a file is missing, nothing at a refused
    key)."""
    try:
        staged.validate(sources.data)
    except staged.Invalid as exc:
        kept = [
            e
            for e in exc.errors
            if not sources.hides(tuple(p for p in e["loc"] if p != "[key]"), e["type"])
        ]
        return validation_problems(kept, sources)
    return []


def _second_look(
    sources: Sources, failed: Sequence[Path], secrets: Sequence[Mount] | None
) -> list[Problem]:
    """Cross-reference and Secret problems of the parts that did validate."""
    pruned = prune(sources.data, failed)
    if pruned is None:
        return []
    try:
        site = staged.validate(pruned.data)
    except staged.Invalid:
        return []
    return [p for p in _semantic_problems(site, sources, secrets) if pruned.keeps(p.message)]


def _semantic_problems(
    site: Site, sources: Sources, secrets: Sequence[Mount] | None
) -> list[Problem]:
    found = checks.check(site)
    problems = [sources.problem(path, message) for path, message in found[: MAX_PROBLEMS + 1]]
    listed, in_raw = asterisk_problems(site)
    listed += option_problems(site) + phone_problems(site)
    problems += [sources.problem(path, message) for path, message in listed]
    for target, text in site.raw.items():
        origin = sources.locate(("raw", target))
        for offset, message in raw_problems(text) or in_raw.get(target, []):
            line = _snippet_line(origin, offset)
            file = origin.file if origin else sources.files[0]
            problems.append(Problem(file, line, key_name(("raw", target)), message))
    problems += secret_problems(site, sources, secrets)[1]
    return problems


def _snippet_line(origin: Origin | None, offset: int) -> int | None:
    """The file line of line `offset` (0-based) of a raw snippet. A block scalar's text starts
    on the line after its indicator (`|`); a quoted one's lines are escapes (`\\n`) or folded,
    so its own first line is the true one for every offset."""
    if origin is None:
        return None
    if origin.style in ("|", ">") and origin.value_line is not None:
        return origin.value_line + 1 + offset
    return origin.value_line or origin.line


def load_site_dirs(
    config_dirs: Iterable[str | FsPath], secret_dirs: Iterable[str | FsPath] | None = ()
) -> LoadedSite:
    """`load_site` on freshly read mounts of the given directories (None: no secret checks)."""
    config = [read_mount(FsPath(p), audio=True) for p in config_dirs]
    secrets = None if secret_dirs is None else [read_mount(FsPath(p)) for p in secret_dirs]
    return load_site(config, secrets)
