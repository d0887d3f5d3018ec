"""A small stand-in site loader and renderer behind the reload seams (Loader, Renderer), until the
real site model and renderer are wired in: `site.yaml` lists endpoints and a dialplan; the secret
mount holds the trunk password. Invalid input raises SiteInvalid like the real loader."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from lab.netns import DOORBELL_V4, POD_V4, POD_V6, PROVIDER_V6
from supervisor.site.errors import Problem, SiteInvalid
from supervisor.site.mounts import Mount


@dataclass(frozen=True)
class Site:
    endpoints: tuple[str, ...]
    dialplan: Mapping[str, Sequence[str]]
    trunk_user: str
    trunk_password: str
    port: int = 5060
    broken: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def load(config: Sequence[Mount], secrets: Sequence[Mount]) -> Site:
    problems: list[Problem] = []
    raw: Any = None
    for mount in config:
        text = mount.files.get("site.yaml")
        if text is None:
            continue
        try:
            raw = yaml.safe_load(text.decode())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise SiteInvalid(
                [Problem(str(mount.path / "site.yaml"), line, "", f"invalid YAML: {exc}")]
            ) from None
    if not isinstance(raw, dict):
        raise SiteInvalid([Problem("site.yaml", None, "", "missing or not a mapping")])
    endpoints = raw.get("endpoints", [])
    if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
        problems.append(Problem("site.yaml", None, "endpoints", "must be a list of names"))
    dialplan = raw.get("dialplan", {})
    if not isinstance(dialplan, dict):
        problems.append(Problem("site.yaml", None, "dialplan", "must be a mapping"))
    password = None
    for mount in secrets:
        if "trunk-password" in mount.files:
            password = mount.files["trunk-password"].decode().strip()
    if password is None:
        problems.append(Problem("secrets", None, "trunk-password", "missing Secret key"))
    if problems:
        raise SiteInvalid(problems)
    assert password is not None
    return Site(
        endpoints=tuple(endpoints),
        dialplan={str(k): [str(a) for a in v] for k, v in dialplan.items()},
        trunk_user=str(raw.get("trunk_user", "pod1")),
        trunk_password=password,
        port=int(raw.get("port", 5060)),
        broken=tuple(raw.get("broken", [])),
    )


def restart_required(old: Site, new: Site) -> list[str]:
    return [f"transport port {old.port} -> {new.port}"] if old.port != new.port else []


def render(site: Site) -> dict[str, str]:
    """pjsip.conf and extensions.conf for the lab's pod."""
    pjsip = [
        "[global]\ntype = global\nuser_agent = asterisk-supervisor\n",
        f"[udp6]\ntype = transport\nprotocol = udp\nbind = [{POD_V6}]:{site.port}\n",
        f"[udp4]\ntype = transport\nprotocol = udp\nbind = {POD_V4}:{site.port}\n",
        "[provider-auth]\ntype = auth\nauth_type = userpass\n"
        f"username = {site.trunk_user}\npassword = {site.trunk_password}\n",
        "[provider]\ntype = registration\ntransport = udp6\noutbound_auth = provider-auth\n"
        f"server_uri = sip:[{PROVIDER_V6}]:5060\n"
        f"client_uri = sip:{site.trunk_user}@[{PROVIDER_V6}]:5060\n"
        f"contact_user = {site.trunk_user}\nexpiration = 60\nretry_interval = 5\n",
        "[doorbell]\ntype = endpoint\ntransport = udp4\ncontext = doorbell\n"
        "disallow = all\nallow = ulaw,alaw\n",
        f"[doorbell]\ntype = identify\nendpoint = doorbell\nmatch = {DOORBELL_V4}\n",
    ]
    for name in site.endpoints:
        pjsip.append(
            f"[{name}]\ntype = endpoint\ntransport = udp4\ncontext = phones\n"
            f"disallow = all\nallow = ulaw\naors = {name}\n"
            # An option value Asterisk refuses: res_pjsip still answers Success to the reload.
            + ("dtmf_mode = bogus\n" if name in site.broken else "")
        )
        pjsip.append(f"[{name}]\ntype = aor\nmax_contacts = 1\n")
    ext = ["[general]\nstatic = yes\nwriteprotect = yes\n"]
    ext.append("[doorbell]\nexten => 100,1,Answer()\n same => n,Wait(600)\n same => n,Hangup()\n")
    for context_exten, apps in sorted(site.dialplan.items()):
        context, _, exten = context_exten.partition("/")
        lines = [f"[{context}]"]
        for i, app in enumerate(apps):
            lines.append(f"exten => {exten},{i + 1},{app}" if i == 0 else f" same => n,{app}")
        ext.append("\n".join(lines) + "\n")
    return {"pjsip.conf": "\n".join(pjsip), "extensions.conf": "\n".join(ext)}


def site_yaml(
    endpoints: Sequence[str] = (),
    dialplan: Mapping[str, Sequence[str]] | None = None,
    port: int = 5060,
    broken: Sequence[str] = (),
) -> str:
    return yaml.safe_dump(
        {
            "endpoints": list(endpoints),
            "dialplan": dict(dialplan or {}),
            "port": port,
            "broken": list(broken),
        }
    )


def load_from(endpoints: Sequence[str], password: str = "x") -> Site:
    """A Site value without mounts (to compute expected renderings)."""
    return Site(endpoints=tuple(endpoints), dialplan={}, trunk_user="pod1", trunk_password=password)
