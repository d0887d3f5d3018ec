"""From the mounts' content to a config: the site model and the rendered files, typed.

The applier asks a `ConfigBuilder`; the product's is `SiteConfigBuilder` (the site loader and the
renderer with this boot's render context). A rejected input raises `ConfigRejected` with every
problem, one line each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from supervisor.render import RenderContext, render, with_bans
from supervisor.render.audio import render_audio
from supervisor.security.events import IPNetwork
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import LoadedSite, load_site
from supervisor.site.model import Site
from supervisor.site.mounts import Mount
from supervisor.site.resolve import ResolvedSite


@dataclass(frozen=True)
class Config:
    """A built config: the mounts' content hash, the loaded site (model and Secret values),
    the rendered files and the site's audio files (content-addressed name -> bytes, written
    in the config directory's audio directory: render/audio.py)."""

    hash: str
    loaded: LoadedSite = field(repr=False)
    files: Mapping[str, str] = field(repr=False)
    audio: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def site(self) -> ResolvedSite:
        return self.loaded.site


class ConfigRejected(Exception):
    """The mounts' content cannot become a config; `problems`, one line each (file, line, key)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class ConfigBuilder(Protocol):
    """Builds configs. Both methods raise ConfigRejected for bad input."""

    def build(self, config: Sequence[Mount], secrets: Sequence[Mount], digest: str) -> Config:
        """The config for a snapshot of the mounts (`digest`: their content hash, computed
        once by the caller)."""
        ...

    def rerender(self, config: Config) -> Config:
        """The same site rendered again: for render inputs besides the mounts (bans)."""
        ...


Blocked = Callable[[Site], Iterable[IPNetwork]]
"""Sources the security guard bans, under the site's policy (a deny ACL in pjsip.conf)."""


class SiteConfigBuilder:
    """The site loader and the renderer, with the render context of this boot bound in, and the
    render inputs that do not come from the mounts (`blocked`)."""

    def __init__(self, context: RenderContext, blocked: Blocked = lambda _site: ()) -> None:
        self.context = context
        self.blocked = blocked
        # The last full render (of which site): a re-render of the same site for a new ban
        # list changes acl.conf alone (render.with_bans). Renders run one at a time (the
        # applier's lock).
        self._last: tuple[LoadedSite, Mapping[str, str]] | None = None

    def build(self, config: Sequence[Mount], secrets: Sequence[Mount], digest: str) -> Config:
        try:
            loaded = load_site(config, secrets, digest=digest)
        except SiteInvalid as exc:
            raise ConfigRejected([str(p) for p in exc.problems]) from None
        return self._render(loaded)

    def rerender(self, config: Config) -> Config:
        return self._render(config.loaded)

    def _render(self, loaded: LoadedSite) -> Config:
        blocked = self.blocked(loaded.site)
        last = self._last
        files = with_bans(loaded, last[1], blocked) if last and last[0] is loaded else None
        if files is None:
            try:
                files = render(loaded, self.context, blocked)
            except SiteInvalid as exc:  # the output guard: located like the loader's problems
                raise ConfigRejected([str(p) for p in exc.problems]) from None
            self._last = (loaded, files)
        audio = render_audio(loaded.site, loaded.audio)
        return Config(hash=loaded.hash, loaded=loaded, files=files, audio=audio)
