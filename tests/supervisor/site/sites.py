"""Building sites for tests: in-memory mounts from YAML text or Python values."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from supervisor.site.load import LoadedSite, load_site
from supervisor.site.mounts import Mount

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

BASE: dict[str, Any] = {
    "addresses": {"ipv6": "2001:db8:e8b1::1:1", "ipv4": "203.0.113.10"},
    "trunks": {
        "provider": {
            "hosts": ["2001:db8:5060::10"],
            "auth": {"username": "pod1", "password_secret": "provider-password"},
            "registration": {"expiry": 300},
            "dids": ["+4930123456"],
            "caller_id": {"number": "+4930123456", "name": "Home"},
        }
    },
    "endpoints": {
        "desk": {"auth": {"password_secret": "desk-password"}},
        "doorbell": {"identify": ["198.51.100.20"], "family": "ipv4", "context": "doorbell"},
    },
    "dialplan": {
        "extensions": {"11": "desk"},
        "ring_groups": {"all": {"endpoints": ["desk"], "ring_time": 20}},
        "inbound": {"+4930123456": "all"},
        "outbound": [{"pattern": "_0ZX.", "trunk": "provider", "strip": 1, "prepend": "+49"}],
        "doorbell": {"ring": "all"},
    },
}
SECRETS = {"provider-password": "provider-secret", "desk-password": "desk-secret"}


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def config_mount(*files: tuple[str, str], path: str = "/config") -> Mount:
    return Mount(path=Path(path), files={name: text.encode() for name, text in files})


def secret_mount(values: dict[str, str] | None = None, path: str = "/secrets") -> Mount:
    values = SECRETS if values is None else values
    return Mount(path=Path(path), files={k: v.encode() for k, v in values.items()})


def load_dict(site: dict[str, Any], secrets: dict[str, str] | None = None) -> LoadedSite:
    text = yaml.safe_dump(site, sort_keys=False, allow_unicode=True)
    return load_site([config_mount(("site.yaml", text))], [secret_mount(secrets)])


def load_text(text: str, secrets: dict[str, str] | None = None) -> LoadedSite:
    return load_site([config_mount(("site.yaml", text))], [secret_mount(secrets)])
