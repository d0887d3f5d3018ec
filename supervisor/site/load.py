"""Loading a site: config mounts (YAML) + secret mounts -> a validated, resolved `LoadedSite`.

Every problem found anywhere (unreadable files, YAML syntax, unknown keys, wrong types, broken
references, missing or unusable Secret keys) is collected and raised at once as `SiteInvalid`,
each with its file, line and key path. Secret values never appear in a message.
"""

from __future__ import annotations

import collections
import difflib
import itertools
import time
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel

from supervisor.site import checks, staged, tls
from supervisor.site.errors import Problem, SiteInvalid
from supervisor.site.grammar import password_problem, pin_problem
from supervisor.site.limits import MAX_DIRS, MAX_PROBLEMS, MAX_SITE_BYTES, MAX_SITE_FILES, MiB
from supervisor.site.model import Site
from supervisor.site.mounts import Mount, content_hash, read_mount
from supervisor.site.options import check as option_problems
from supervisor.site.phones import check as phone_problems
from supervisor.site.prune import prune
from supervisor.site.raw import raw_problems
from supervisor.site.resolve import ResolvedSite, resolve
from supervisor.site.uses import asterisk_problems
from supervisor.site.yamlsource import Document, Origin, Path, key_name, parse

SITE_SUFFIXES = (".yaml", ".yml")
# Named collections that several files may each contribute entries to.
MERGEABLE = ("transports", "trunks", "endpoints")


@dataclass(frozen=True)
class LoadedSite:
    """A valid site, the Secret values it references (key -> value: passwords and PEM texts),
    the mounts' content hash, and each tls transport's checked certificate (by transport)."""

    site: ResolvedSite
    secrets: Mapping[str, str] = field(repr=False)
    hash: str
    certificates: Mapping[str, tls.CertInfo] = field(
        default_factory=lambda: types.MappingProxyType({})
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


@dataclass
class _Sources:
    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[Path, Origin] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    #: Key paths whose value was refused while parsing (their problem is reported already).
    dropped: set[Path] = field(default_factory=set)
    #: Every prefix of a dropped path (built on first use by `hides`).
    _above_dropped: set[Path] | None = None
    #: False when some file (or part of the top level) could not be read.
    complete: bool = True

    def locate(self, path: Path) -> Origin | None:
        for end in range(len(path), 0, -1):
            origin = self.origins.get(path[:end])
            if origin is not None:
                return origin
        return None

    def problem(self, path: Path, message: str) -> Problem:
        origin = self.locate(path)
        file = origin.file if origin else (self.files[0] if self.files else "site")
        return Problem(file, origin.line if origin else None, key_name(path), message)

    def merge(self, doc: Document) -> list[Problem]:
        """Add one file's keys; each origin is copied once (linear in the file's size)."""
        self.complete &= doc.complete and () not in doc.dropped
        self.dropped |= doc.dropped - {()}
        self._above_dropped = None
        problems = []
        refused: set[Path] = set()  # entries not taken (a name or key given before)
        for key, value in doc.data.items():
            here = doc.origins[(key,)]
            if key in MERGEABLE and isinstance(value, dict) and key in self.data:
                existing = self.data[key]
                if not isinstance(existing, dict):
                    refused.add((key,))
                    continue
                for name, item in value.items():
                    if name in existing:
                        first = self.origins[(key, name)]
                        line = doc.origins[(key, name)].line
                        problems.append(
                            Problem(
                                doc.file,
                                line,
                                key_name((key, name)),
                                f"duplicate name (also at {first.file}:{first.line})",
                            )
                        )
                        refused.add((key, name))
                        continue
                    existing[name] = item
            elif key in self.data:
                first = self.origins[(key,)]
                problems.append(
                    Problem(
                        doc.file,
                        here.line,
                        key,
                        f"given in two files (also at {first.file}:{first.line})",
                    )
                )
                refused.add((key,))
            else:
                self.data[key] = value
        # Every origin of what was taken, in one pass (linear in the file's size); a merged
        # collection keeps the line where it was first given.
        setdefault = self.origins.setdefault
        if not refused:
            for path, origin in doc.origins.items():
                setdefault(path, origin)
        else:
            for path, origin in doc.origins.items():
                if path[:1] not in refused and path[:2] not in refused:
                    setdefault(path, origin)
        return problems

    def hides(self, path: Path, kind: str) -> bool:
        """Whether a validation error at `path` may come from what parsing refused."""
        if kind == "missing" and not self.complete:
            return True
        # At or below a dropped path, or above one: a few set lookups per error (comparing
        # every error with every dropped path was quadratic: issue 26).
        if self._above_dropped is None:
            self._above_dropped = {d[:end] for d in self.dropped for end in range(len(d) + 1)}
        if path in self._above_dropped:
            return True
        return any(path[:end] in self.dropped for end in range(len(path)))


def _field_type(model: type[BaseModel], path: Sequence[str | int]) -> Any:
    """The annotation reached by following `path` from `model` (None if it cannot be followed)."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) is tuple:
            current = typing.get_args(current)[0]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "string_type":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"must be a string: quote it (YAML reads {shown} as a number)"
        return f"must be a string, not {shown}"
    if kind == "int_type":
        return f"must be a whole number, not {shown}"
    if kind == "bool_type":
        return f"must be true or false, not {shown}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, not {shown}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"{shown} has characters that are not allowed here"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping (key: value), not {shown}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, not {shown}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def _validation_problems(errors: Iterable[Any], sources: _Sources) -> list[Problem]:
    problems = []
    for error in itertools.islice(errors, MAX_PROBLEMS + 1):
        path: Path = tuple(p for p in error["loc"] if p != "[key]")
        message = _message(error)
        if error["type"] == "extra_forbidden":
            fields = _field_type(Site, path[:-1])
            if isinstance(fields, type) and issubclass(fields, BaseModel):
                close = difflib.get_close_matches(str(path[-1]), list(fields.model_fields), n=1)
                allowed = ", ".join(fields.model_fields)
                message += f"; did you mean {close[0]!r}?" if close else f" (known: {allowed})"
        problems.append(sources.problem(path, message))
    return problems


def _secret_problems(
    site: Site, sources: _Sources, secrets: Sequence[Mount] | None
) -> tuple[dict[str, str], list[Problem]]:
    # (key path, Secret key, why its value is unusable or None)
    refs: list[tuple[Path, str, Callable[[str], str | None]]] = []
    for name, trunk in site.trunks.items():
        if trunk.auth is not None:
            path: Path = ("trunks", name, "auth", "password_secret")
            refs.append((path, trunk.auth.password_secret, password_problem))
    for name, endpoint in site.endpoints.items():
        if endpoint.auth is not None:
            path = ("endpoints", name, "auth", "password_secret")
            refs.append((path, endpoint.auth.password_secret, password_problem))
        if endpoint.voicemail is not None:
            path = ("endpoints", name, "voicemail", "pin_secret")
            refs.append((path, endpoint.voicemail.pin_secret, pin_problem))
    if site.records.postgresql is not None:
        path = ("records", "postgresql", "password_secret")
        refs.append((path, site.records.postgresql.password_secret, password_problem))
    values: dict[str, str] = {}
    problems: list[Problem] = []
    if secrets is None:
        # Placeholders that fit each kind (a PIN placeholder must still be digits).
        return {
            key: "0000" if check is pin_problem else f"(secret {key})" for _, key, check in refs
        }, []
    where = ", ".join(str(m.path) for m in secrets) or "no secret directory was given"
    # What each key's absence may be explained by, looked up once (linear in the refs).
    broken: dict[str, str] = {}
    for mount in reversed(secrets):
        for name in mount.directories:
            broken.setdefault(name, f"is a directory in {mount.path}, not a file")
        for found_problem in mount.problems:
            broken.setdefault(FsPath(found_problem.file).name, found_problem.message)
    unreadable = [f"{m.path} {m.unreadable}" for m in secrets if m.unreadable is not None]
    for path, key, check in refs:
        found = next((m for m in reversed(secrets) if key in m.files), None)
        if found is None:
            if key in broken:
                reason = broken[key]
            elif unreadable:
                reason = f"cannot be checked: the secrets directory {'; '.join(unreadable)}"
            else:
                reason = f"is not in the secrets ({where})"
            problems.append(sources.problem(path, f"secret key {key!r} {reason}"))
            continue
        # A file made by `kubectl create secret --from-file` often ends in one newline.
        text = found.files[key].decode("utf-8").removesuffix("\n").removesuffix("\r")
        unusable = check(text)
        if unusable is not None:
            problems.append(sources.problem(path, f"secret key {key!r} {unusable}"))
            continue
        values[key] = text
    return values, problems


def _secret_text(key: str, secrets: Sequence[Mount], where: str) -> tuple[str | None, str | None]:
    """(text of a Secret key, None) or (None, why it cannot be had)."""
    found = next((m for m in reversed(secrets) if key in m.files), None)
    if found is None:
        broken = [p for m in secrets for p in m.problems if FsPath(p.file).name == key]
        return None, (broken[0].message if broken else f"is not in the secrets ({where})")
    return found.files[key].decode("utf-8"), None


def _tls_problems(
    site: Site, sources: _Sources, secrets: Sequence[Mount] | None, now: float
) -> tuple[dict[str, str], dict[str, tls.CertInfo], list[Problem]]:
    """Certificates, keys and CA bundles of tls transports and trunks: PEM texts by Secret key,
    each transport's CertInfo, and the problems (a pair that does not match, expired, ...)."""
    values: dict[str, str] = {}
    infos: dict[str, tls.CertInfo] = {}
    problems: list[Problem] = []
    wanted: list[tuple[Path, str, bool]] = []  # (path, key, required)
    for name, transport in site.transports.items():
        if transport.protocol != "tls" or transport.tls is None:
            continue
        path: Path = ("transports", name, "tls")
        wanted += [((*path, "cert_secret"), transport.tls.cert_secret, True)]
        wanted += [((*path, "key_secret"), transport.tls.key_secret, True)]
        if transport.tls.ca_secret is not None:
            wanted += [((*path, "ca_secret"), transport.tls.ca_secret, False)]
    for name, trunk in site.trunks.items():
        if trunk.tls is not None and trunk.tls.ca_secret is not None:
            wanted += [(("trunks", name, "tls", "ca_secret"), trunk.tls.ca_secret, True)]
    if secrets is None:
        return {key: f"(secret {key})" for _, key, _ in wanted}, {}, []
    where = ", ".join(str(m.path) for m in secrets) or "no secret directory was given"
    for path, key, required in wanted:
        text, why = _secret_text(key, secrets, where)
        if text is not None:
            values[key] = text
        elif required or "not in the secrets" not in (why or ""):
            problems.append(sources.problem(path, f"secret key {key!r} {why}"))
    for name, transport in site.transports.items():
        spec = transport.tls
        if transport.protocol != "tls" or spec is None:
            continue
        path = ("transports", name, "tls")
        cert, private = values.get(spec.cert_secret), values.get(spec.key_secret)
        if cert is not None and private is not None:
            try:
                infos[name] = tls.check_pair(
                    cert,
                    private,
                    cert_what=f"secret key {spec.cert_secret!r}",
                    key_what=f"secret key {spec.key_secret!r}",
                    now=now,
                )
            except tls.KeyProblem as exc:
                problems.append(sources.problem((*path, "key_secret"), str(exc)))
            except tls.TlsProblem as exc:
                problems.append(sources.problem((*path, "cert_secret"), str(exc)))
        if spec.ca_secret is not None and spec.ca_secret in values:
            try:
                tls.check_ca(values[spec.ca_secret], f"secret key {spec.ca_secret!r}")
            except tls.TlsProblem as exc:
                problems.append(sources.problem((*path, "ca_secret"), str(exc)))
    for name, trunk in site.trunks.items():
        if trunk.tls is None or trunk.tls.ca_secret not in values:
            continue
        assert trunk.tls.ca_secret is not None
        try:
            tls.check_ca(values[trunk.tls.ca_secret], f"secret key {trunk.tls.ca_secret!r}")
        except tls.TlsProblem as exc:
            problems.append(sources.problem(("trunks", name, "tls", "ca_secret"), str(exc)))
    return values, infos, problems


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
    sources = _Sources(complete=not problems)
    problems += _count_problems(config, secrets)
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
        problems = _validation_problems(errors, sources)
        if len(errors) > MAX_PROBLEMS:  # the second look could not be reported anyway
            raise SiteInvalid(problems) from None
        failed = [tuple(p for p in e["loc"] if p != "[key]") for e in errors]
        raise SiteInvalid(problems, _second_look(sources, failed, secrets)) from None
    problems += _semantic_problems(site, sources, secrets)
    if problems:
        raise SiteInvalid(problems)
    values, _ = _secret_problems(site, sources, secrets)
    resolved = resolve(site)
    pem, certificates, problems = _tls_problems(
        resolved, sources, secrets, time.time() if now is None else now
    )
    if problems:
        raise SiteInvalid(problems)
    return LoadedSite(
        site=resolved,
        secrets=types.MappingProxyType({**values, **pem}),
        hash=digest if digest is not None else content_hash([*config, *(secrets or ())]),
        certificates=types.MappingProxyType(certificates),
        origins=types.MappingProxyType(sources.origins),
    )


def _count_problems(config: Sequence[Mount], secrets: Sequence[Mount] | None) -> list[Problem]:
    problems = []
    for kind, mounts in (("config", config), ("secret", secrets or ())):
        if len(mounts) > MAX_DIRS:
            where = str(mounts[MAX_DIRS].path)
            problems.append(Problem(where, None, "", f"more than {MAX_DIRS} {kind} directories"))
    return problems


def _partial_problems(sources: _Sources) -> list[Problem]:
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
        return _validation_problems(kept, sources)
    return []


def _second_look(
    sources: _Sources, failed: Sequence[Path], secrets: Sequence[Mount] | None
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
    site: Site, sources: _Sources, secrets: Sequence[Mount] | None
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
    problems += _secret_problems(site, sources, secrets)[1]
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
    config = [read_mount(FsPath(p)) for p in config_dirs]
    secrets = None if secret_dirs is None else [read_mount(FsPath(p)) for p in secret_dirs]
    return load_site(config, secrets)
