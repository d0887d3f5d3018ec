"""The reload plan: what going from the running config to a new one takes. Pure, and the only
place that decides it: which files to write, which modules to reload, why Asterisk must restart,
which registrations to re-send.

- Files: every rendered file whose text differs from the file on disk; a managed file no longer
  rendered is removed.
- Modules: each written file's module (the renderer's MODULE_OF_FILE), once, in file order.
- Restart: a file Asterisk reads only at start-up (no module) that differs from what Asterisk
  booted with; a transport whose bind, port or protocol changed, was added or removed (res_pjsip
  keeps a transport's previous values on reload), from the model and, for what the model cannot
  see (raw snippets), from the rendered pjsip.conf.
- Re-register: outbound registrations, unchanged themselves, whose auth changed (Asterisk does
  not re-REGISTER them by itself until the next refresh).
- Audio: the site's audio files (content-addressed names) not on disk are written before the
  config files; those the new config does not name are removed only after it is verified live
  (a call may be playing one until then). An audio file needs no reload of its own: the file
  that names it (extensions.conf, musiconhold.conf) changes with its name and is reloaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from supervisor.reload import conffile
from supervisor.reload.build import Config
from supervisor.render import MODULE_OF_FILE
from supervisor.site.model import Site, Transport

_T = TypeVar("_T")


@dataclass(frozen=True, order=True)
class RestartReason:
    """Why a change needs an Asterisk restart: `subject` (a file, `transport NAME`) and what
    happened to it. Prints as one line."""

    subject: str
    change: str

    def __str__(self) -> str:
        return f"{self.subject} {self.change}"


@dataclass(frozen=True)
class Live:
    """The running side: `booted`, the config Asterisk read at its last start (None: not known,
    so no restart is asked for), and `files`, the managed files as they are on disk now (None:
    absent)."""

    booted: Config | None
    files: Mapping[str, str | None] = field(default_factory=dict)
    #: The files in the audio directory now.
    audio: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Plan:
    writes: Mapping[str, str | None]
    modules: tuple[str, ...] = ()
    restart: tuple[RestartReason, ...] = ()
    reregister: tuple[str, ...] = ()
    #: Audio files to write before the config files, and to remove once it is live.
    audio_writes: tuple[str, ...] = ()
    audio_removes: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(sorted(self.writes))


def plan(
    live: Live, new: Config, module_of_file: Mapping[str, str | None] = MODULE_OF_FILE
) -> Plan:
    writes: dict[str, str | None] = {
        name: text for name, text in sorted(new.files.items()) if live.files.get(name) != text
    }
    for name, text in sorted(live.files.items()):
        if name not in new.files and text is not None:
            writes[name] = None
    old_pjsip = live.files.get("pjsip.conf")
    reregister: list[str] = []
    if "pjsip.conf" in writes:
        reregister = registrations_with_changed_auth(old_pjsip, new.files.get("pjsip.conf"))
    return Plan(
        writes=writes,
        modules=tuple(modules_for(writes, module_of_file)),
        restart=tuple(restart_reasons(live.booted, new, module_of_file)),
        reregister=tuple(reregister),
        audio_writes=tuple(sorted(set(new.audio) - live.audio)),
        audio_removes=tuple(sorted(live.audio - set(new.audio))),
    )


def modules_for(files: Iterable[str], module_of_file: Mapping[str, str | None]) -> list[str]:
    """The modules whose Reload re-reads these files, once each, in file-name order; files read
    only at start-up (None, or unknown) reload nothing."""
    modules: list[str] = []
    for name in sorted(files):
        module = module_of_file.get(name)
        if module is not None and module not in modules:
            modules.append(module)
    return modules


def restart_reasons(
    booted: Config | None, new: Config, module_of_file: Mapping[str, str | None] = MODULE_OF_FILE
) -> list[RestartReason]:
    if booted is None:
        return []
    reasons = [
        RestartReason(name, "changed (read only at start-up)")
        for name in sorted(set(booted.files) | set(new.files))
        if module_of_file.get(name) is None and booted.files.get(name) != new.files.get(name)
    ]
    model = transport_changes(booted.site, new.site)
    explained = {r.subject for r in model}
    reasons += model
    # The rendered files catch what the model cannot see (raw snippets); a transport the model
    # already explained is not reported twice.
    reasons += [
        r
        for r in rendered_transport_changes(
            booted.files.get("pjsip.conf"), new.files.get("pjsip.conf")
        )
        if r.subject not in explained
    ]
    return list(dict.fromkeys(reasons))


def _bind(site: Site, transport: Transport) -> str:
    address = site.addresses.of(transport.family) if transport.bind == "address" else None
    if address is None:
        address = "::" if transport.family == "ipv6" else "0.0.0.0"
    host = f"[{address}]" if transport.family == "ipv6" else address
    return f"{transport.protocol} {host}:{transport.port}"


def _compare(
    before: Mapping[str, _T], after: Mapping[str, _T], change: Callable[[_T, _T], str | None]
) -> list[RestartReason]:
    """A reason per transport added, removed, or changed (`change` says how, None: not)."""
    reasons = []
    for name in sorted(before.keys() | after.keys()):
        subject = f"transport {name}"
        if name not in after:
            reasons.append(RestartReason(subject, "removed"))
        elif name not in before:
            reasons.append(RestartReason(subject, "added"))
        elif (how := change(before[name], after[name])) is not None:
            reasons.append(RestartReason(subject, f"changed: {how}"))
    return reasons


def transport_changes(old: Site, new: Site) -> list[RestartReason]:
    """Transports of the model whose bind address, port or protocol changed, added or removed."""

    def change(was: Transport, now: Transport) -> str | None:
        before, after = _bind(old, was), _bind(new, now)
        return None if before == after else f"{before} -> {after}"

    return _compare(old.transports, new.transports, change)


def rendered_transport_changes(old: str | None, new: str | None) -> list[RestartReason]:
    """PJSIP transports added, removed or changed between two pjsip.conf texts (the keys)."""
    if old is None or new is None:
        return []

    def change(was: conffile.Section, now: conffile.Section) -> str | None:
        before, after = dict(was.options), dict(now.options)
        keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        return ", ".join(keys) or None

    return _compare(conffile.objects(old, "transport"), conffile.objects(new, "transport"), change)


def registrations_with_changed_auth(old: str | None, new: str | None) -> list[str]:
    """Outbound registrations, unchanged themselves, whose outbound_auth object changed."""
    if old is None or new is None:
        return []
    auths_before = conffile.objects(old, "auth")
    auths_after = conffile.objects(new, "auth")
    regs_before = conffile.objects(old, "registration")
    out = []
    for name, reg in conffile.objects(new, "registration").items():
        previous = regs_before.get(name)
        if previous is None or previous.options != reg.options:
            continue  # new or changed: Asterisk re-registers it by itself
        for auth in _names(reg.get("outbound_auth")):
            before, after = auths_before.get(auth), auths_after.get(auth)
            if (before.options if before else None) != (after.options if after else None):
                out.append(name)
                break
    return out


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]
