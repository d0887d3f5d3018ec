"""Site descriptions for the reload tests: the repository's home example (the lab's addresses),
with the doorbell answering extension 100 and holding (a raw context), plus variations."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lab.paths import REPO
from supervisor.reload import SiteConfigBuilder
from supervisor.render import RenderContext

HOME = REPO / "examples" / "home"
HOLD = "[hold]\nexten => 100,1,Answer()\n same => n,Wait(600)\n same => n,Hangup()\n"


@functools.cache
def _home() -> dict[str, Any]:
    site: dict[str, Any] = yaml.safe_load((HOME / "site" / "site.yaml").read_text())
    site["endpoints"]["doorbell"]["context"] = "hold"
    site["raw"] = {"extensions.conf": HOLD}
    return site


def home(*extra_endpoints: str, **changes: Any) -> dict[str, Any]:
    """The home site plus endpoints (sharing desk's password key); `changes` replace top keys."""
    site = copy.deepcopy(_home())
    for name in extra_endpoints:
        site["endpoints"][name] = {"auth": {"password_secret": "desk-password"}}
    site.update(changes)
    return site


def with_extension(site: dict[str, Any], number: str, target: str) -> dict[str, Any]:
    site["dialplan"]["extensions"][number] = target
    return site


def with_port(site: dict[str, Any], transport: str, port: int) -> dict[str, Any]:
    site["transports"][transport]["port"] = port
    return site


def site_files(site: Mapping[str, Any]) -> dict[str, str]:
    return {"site.yaml": yaml.safe_dump(dict(site), sort_keys=False)}


def secrets(provider_password: str = "provider-secret") -> dict[str, str]:
    values = {p.name: p.read_text() for p in sorted((HOME / "secrets").iterdir())}
    values["provider-password"] = provider_password
    return values


def builder(context: RenderContext) -> SiteConfigBuilder:
    """The product's config builder (site loader + renderer) with this render context."""
    return SiteConfigBuilder(context)


def context(ami_secret: str = "reload-tests-0123456789", **kwargs: Any) -> RenderContext:
    return RenderContext(ami_secret=ami_secret, **kwargs)


__all__ = ["HOME", "Path"]


#: The DID the audio site routes to its announcement (the home site's second number).
AUDIO_DID = "+4930123457"


def with_audio(site: dict[str, Any], *, hold_endpoint: str = "desk") -> dict[str, Any]:
    """The site with an announcement playing the site's hello.wav on AUDIO_DID, and a hold
    class `office` of hold.wav that `hold_endpoint` suggests when it holds a call."""
    site = copy.deepcopy(site)
    site["dialplan"]["inbound"][AUDIO_DID] = "hello"
    site["dialplan"].setdefault("announcements", {})["hello"] = {
        "sound": "audio:hello.wav",
        "then": "hangup",
    }
    site["music_on_hold"] = {"office": {"files": ["audio:hold.wav"]}}
    site["endpoints"][hold_endpoint]["music_on_hold"] = "office"
    return site


def audio_files(site: Mapping[str, Any], **audio: bytes) -> dict[str, str | bytes]:
    """The site's YAML and its audio files, as one ConfigMap (binaryData) holds them."""
    return {**site_files(site), **audio}
