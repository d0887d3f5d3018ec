"""Rendering: a loaded site + a render context -> Asterisk's config files `{name: text}`, pure.

`render()` is deterministic: the same inputs give byte-identical files. Secrets appear only in
pjsip.conf auth sections, voicemail.conf box PINs and (the supervisor's own AMI secret)
manager.conf. Raw snippets from the
site are appended after a marker to the file they name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from supervisor.render import core, guard, records
from supervisor.render.acl import ACL_OBJECT, render_acl
from supervisor.render.audio import player, render_musiconhold
from supervisor.render.context import Directories, Prometheus, RenderContext
from supervisor.render.extensions import render_extensions
from supervisor.render.pjsip import TLS_FILE_RE, render_pjsip, render_tls_files
from supervisor.render.voicemail import render_voicemail
from supervisor.security.events import IPNetwork
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import LoadedSite

__all__ = [
    "MODULE_OF_FILE",
    "SECRET_FILES",
    "Directories",
    "Prometheus",
    "RenderContext",
    "render",
]


class _ModuleOfFile(Mapping[str, str | None]):
    """The fixed files, plus the TLS files of tls transports (named after the transport), which
    res_pjsip re-reads on reload: it restarts a TLS listener whose certificate or key changed."""

    def __init__(self, fixed: Mapping[str, str | None]) -> None:
        self._fixed = dict(fixed)

    def __getitem__(self, name: str) -> str | None:
        if name in self._fixed:
            return self._fixed[name]
        if TLS_FILE_RE.fullmatch(name):
            return "res_pjsip.so"
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._fixed)

    def __len__(self) -> int:
        return len(self._fixed)


class _SecretFiles(frozenset[str]):
    """Files holding secrets: the fixed ones and every tls transport's private key."""

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and TLS_FILE_RE.fullmatch(name) and name.endswith(".key"):
            return True
        return super().__contains__(name)


#: The module whose AMI `Reload` re-reads each rendered file; None: read only at start-up
#: (changing it needs an Asterisk restart).
MODULE_OF_FILE: Final[Mapping[str, str | None]] = _ModuleOfFile(
    {
        "asterisk.conf": None,
        "modules.conf": None,
        "logger.conf": "logger",
        "manager.conf": "manager",
        "pjsip.conf": "res_pjsip.so",
        "extensions.conf": "pbx_config.so",
        "rtp.conf": "res_rtp_asterisk.so",
        "http.conf": "http",
        "prometheus.conf": "res_prometheus.so",
        "cdr.conf": "cdr",
        "cel.conf": "cel",
        "cel_sqlite3_custom.conf": "cel_sqlite3_custom.so",
        "cel_pgsql.conf": "cel_pgsql.so",
        "features.conf": "features",
        "acl.conf": "acl",
        "udptl.conf": "udptl",
        "ccss.conf": "ccss",
        "indications.conf": "indications",
        "geolocation.conf": "res_geolocation.so",
        "pjproject.conf": "res_pjproject.so",
        "stasis.conf": None,
        "voicemail.conf": "app_voicemail.so",
        "musiconhold.conf": "res_musiconhold.so",
    }
)

#: Files that hold secrets (write them 0640, never log their text).
SECRET_FILES: Final[frozenset[str]] = _SecretFiles(
    {"pjsip.conf", "manager.conf", "voicemail.conf", "cel_pgsql.conf"}
)

RAW_MARK = "; ---- raw snippet from the site description (raw.{name}) ----\n"


def with_bans(
    loaded: LoadedSite, files: Mapping[str, str], blocked: Iterable[IPNetwork]
) -> dict[str, str] | None:
    """`files`, render() of `loaded` with bans present exactly when `blocked` has some, with
    acl.conf rendered for `blocked`: what render() gives, at the cost of acl.conf alone (the
    output guard checks it; nothing else changed). None when it cannot be done so: a raw
    acl.conf snippet, or bans appearing or going (pjsip.conf's ACL object changes). Under a
    flood the ban list changes many times a second, and re-rendering and re-checking the
    whole site for each was most of what the supervisor spent (bench/reports/attack.notes.md).
    """
    blocked = blocked if isinstance(blocked, tuple) else tuple(blocked)
    had = ACL_OBJECT in files.get("pjsip.conf", "")
    if "acl.conf" in loaded.site.raw or bool(blocked) != had:
        return None
    acl = render_acl(blocked)
    mismatches = guard.check({"acl.conf": acl}, {})
    if mismatches:  # never for what render_acl writes; render() then words the problem
        return None
    return {**files, "acl.conf": acl}


def render(
    loaded: LoadedSite, context: RenderContext, blocked: Iterable[IPNetwork] = ()
) -> dict[str, str]:
    """Every config file Asterisk needs for `loaded`, keyed by file name, in a stable order;
    `blocked`: sources the security guard banned (a named deny ACL in acl.conf, referred to
    from pjsip.conf: render/acl.py)."""
    site = loaded.site
    blocked = blocked if isinstance(blocked, tuple) else tuple(blocked)  # a NetworkList stays
    extensions = render_extensions(site, player(loaded.audio, context))
    dialplan = extensions + site.raw.get("extensions.conf", "")
    files = {
        "asterisk.conf": core.render_asterisk(context),
        "modules.conf": core.render_modules(site, context, dialplan),
        "logger.conf": core.render_logger(),
        "manager.conf": core.render_manager(context),
        "pjsip.conf": render_pjsip(site, loaded.secrets, context.directories.astetcdir, blocked),
        "extensions.conf": extensions,
        "rtp.conf": core.render_rtp(site, context),
        "http.conf": core.render_http(context),
        "voicemail.conf": render_voicemail(site, loaded.secrets, context),
        "cel.conf": records.render_cel(),
        "cel_sqlite3_custom.conf": records.render_cel_sqlite(context.directories),
        "musiconhold.conf": render_musiconhold(site, loaded.audio, context),
        **core.quiet_files(),
        "acl.conf": render_acl(blocked),
    }
    if context.prometheus is not None:
        files["prometheus.conf"] = core.render_prometheus()
    pgsql = records.render_cel_pgsql(site, loaded.secrets)
    if pgsql is not None:
        files["cel_pgsql.conf"] = pgsql
    raw: dict[str, str] = {
        name: "\n" + RAW_MARK.format(name=name) + text.rstrip() + "\n"
        for name, text in sorted(site.raw.items())
    }
    mismatches = guard.check(files, raw)
    if mismatches:
        trunks, endpoints = set(site.trunks), set(site.endpoints)
        raise SiteInvalid(
            loaded.problem(
                guard.source_of(m, trunks, endpoints),
                f"refused: {m.file}"
                + (f" [{m.section}]" if m.section else "")
                + (f" {m.key}" if m.key else "")
                + f": {m.message}"
                + (
                    " (filter it into a SAFE_ variable first: docs/callsafety.md)"
                    if m.call_time
                    else " (Asterisk would not read what was meant)"
                ),
            )
            for m in mismatches
        )
    for name, part in raw.items():
        files[name] = files.get(name, "") + part
    # PEM files, not config syntax (no raw snippet, nothing for a config reader to check).
    files |= render_tls_files(site, loaded.secrets)
    return dict(sorted(files.items()))
