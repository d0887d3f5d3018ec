"""The Secret values a site references: passwords and PINs (each usable as its kind), and TLS
material (certificates, keys, CA bundles, each checked by `tls/certs.py`). Problems name the key
path and the Secret key, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path as FsPath

from supervisor.site.errors import Problem
from supervisor.site.grammar import password_problem, pin_problem
from supervisor.site.model import Site
from supervisor.site.mounts import Mount
from supervisor.site.sources import Sources
from supervisor.site.yamlsource import Path
from supervisor.tls import certs


def secret_problems(
    site: Site, sources: Sources, secrets: Sequence[Mount] | None
) -> tuple[dict[str, str], list[Problem]]:
    """The password and PIN values by Secret key, and the problems of missing or unusable ones
    (`secrets=None`: placeholders, no problems)."""
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
    relay = site.voicemail.email
    if relay is not None and relay.username_secret is not None:
        assert relay.password_secret is not None  # the model keeps them a pair
        path = ("voicemail", "email", "username_secret")
        refs.append((path, relay.username_secret, password_problem))
        path = ("voicemail", "email", "password_secret")
        refs.append((path, relay.password_secret, password_problem))
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


def tls_material(
    site: Site, sources: Sources, secrets: Sequence[Mount] | None, now: float
) -> tuple[dict[str, str], dict[str, certs.CertInfo], list[Problem]]:
    """Certificates, keys and CA bundles of tls transports and trunks: PEM texts by Secret key,
    each transport's CertInfo, and the problems (a pair that does not match, expired, ...)."""
    values: dict[str, str] = {}
    infos: dict[str, certs.CertInfo] = {}
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
    relay = site.voicemail.email
    if relay is not None and relay.ca_secret is not None:
        wanted += [(("voicemail", "email", "ca_secret"), relay.ca_secret, True)]
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
                infos[name] = certs.check_pair(
                    cert,
                    private,
                    cert_what=f"secret key {spec.cert_secret!r}",
                    key_what=f"secret key {spec.key_secret!r}",
                    now=now,
                )
            except certs.KeyProblem as exc:
                problems.append(sources.problem((*path, "key_secret"), str(exc)))
            except certs.TlsProblem as exc:
                problems.append(sources.problem((*path, "cert_secret"), str(exc)))
        if spec.ca_secret is not None and spec.ca_secret in values:
            try:
                certs.check_ca(values[spec.ca_secret], f"secret key {spec.ca_secret!r}")
            except certs.TlsProblem as exc:
                problems.append(sources.problem((*path, "ca_secret"), str(exc)))
    for name, trunk in site.trunks.items():
        if trunk.tls is None or trunk.tls.ca_secret not in values:
            continue
        assert trunk.tls.ca_secret is not None
        try:
            certs.check_ca(values[trunk.tls.ca_secret], f"secret key {trunk.tls.ca_secret!r}")
        except certs.TlsProblem as exc:
            problems.append(sources.problem(("trunks", name, "tls", "ca_secret"), str(exc)))
    if relay is not None and relay.ca_secret is not None and relay.ca_secret in values:
        try:
            certs.check_ca(values[relay.ca_secret], f"secret key {relay.ca_secret!r}")
        except certs.TlsProblem as exc:
            problems.append(sources.problem(("voicemail", "email", "ca_secret"), str(exc)))
    return values, infos, problems
