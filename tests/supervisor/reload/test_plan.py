"""The reload plan: the one place that decides files, modules, restart reasons and
re-registrations; pure, so the cases are tables."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.reload.build import Config
from supervisor.reload.plan import (
    Live,
    RestartReason,
    plan,
    registrations_with_changed_auth,
    rendered_transport_changes,
    transport_changes,
)
from supervisor.site.load import LoadedSite
from tests.supervisor.site.sites import base, load_dict

LOADED = load_dict(base())
SITE = LOADED.site

UDP = "[udp]\ntype = transport\nbind = [::]:5060\n"
REG = "[r]\ntype = registration\noutbound_auth = a\n"
AUTH1 = "[a]\ntype = auth\npassword = 1\n"
AUTH2 = "[a]\ntype = auth\npassword = 2\n"


def config(files: dict[str, str], loaded: LoadedSite = LOADED) -> Config:
    return Config(hash="h", loaded=loaded, files=files)


CASES: list[tuple[str, dict[str, Any], dict[str, str], dict[str, Any]]] = [
    (
        "nothing changed",
        {"pjsip.conf": UDP, "extensions.conf": "[in]\n"},
        {"pjsip.conf": UDP, "extensions.conf": "[in]\n"},
        {"writes": {}, "modules": (), "restart": (), "reregister": ()},
    ),
    (
        "two reloadable files: each module once, in file order",
        {"pjsip.conf": UDP, "extensions.conf": "[in]\n"},
        {"pjsip.conf": UDP + "[e]\ntype = endpoint\n", "extensions.conf": "[out]\n"},
        {"modules": ("pbx_config.so", "res_pjsip.so"), "restart": ()},
    ),
    (
        "a start-up-only file: written, nothing reloaded, restart required",
        {"modules.conf": "[modules]\n"},
        {"modules.conf": "[modules]\nautoload = no\n"},
        {
            "writes": {"modules.conf": "[modules]\nautoload = no\n"},
            "modules": (),
            "restart": (RestartReason("modules.conf", "changed (read only at start-up)"),),
        },
    ),
    (
        "an unknown file counts as read only at start-up",
        {},
        {"odd.conf": "x\n"},
        {"modules": (), "restart": (RestartReason("odd.conf", "changed (read only at start-up)"),)},
    ),
    (
        "a managed file no longer rendered is removed (and its module reloaded)",
        {"pjsip.conf": UDP, "cdr.conf": "[general]\n"},
        {"pjsip.conf": UDP},
        {"writes": {"cdr.conf": None}, "modules": ("cdr",)},
    ),
    (
        "a file absent on disk is written",
        {"pjsip.conf": None},
        {"pjsip.conf": UDP},
        {"writes": {"pjsip.conf": UDP}, "modules": ("res_pjsip.so",)},
    ),
    (
        "a transport changed in the rendered text only (a raw snippet): restart, with the keys",
        {"pjsip.conf": UDP},
        {"pjsip.conf": UDP.replace("5060", "5070")},
        {
            "modules": ("res_pjsip.so",),
            "restart": (RestartReason("transport udp", "changed: bind"),),
        },
    ),
    (
        "an auth-only change re-registers its registration",
        {"pjsip.conf": REG + AUTH1},
        {"pjsip.conf": REG + AUTH2},
        {"modules": ("res_pjsip.so",), "restart": (), "reregister": ("r",)},
    ),
    (
        "a changed registration re-registers by itself",
        {"pjsip.conf": REG + AUTH1},
        {"pjsip.conf": REG.replace("= a", "= a\nexpiration = 60") + AUTH2},
        {"reregister": ()},
    ),
]


@pytest.mark.parametrize(
    ("on_disk", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan_table(on_disk: dict[str, Any], new: dict[str, str], expected: dict[str, Any]) -> None:
    """Each case: the files on disk (also what Asterisk booted with) and the new files give
    exactly the expected writes, modules, restart reasons and re-registrations."""
    booted = config({k: v for k, v in on_disk.items() if v is not None})
    steps = plan(Live(booted=booted, files=on_disk), config(new))
    for field, value in expected.items():
        assert getattr(steps, field) == value, field


def test_restart_compares_with_what_asterisk_booted_not_with_the_disk() -> None:
    """A start-up-only change already on disk still needs the restart; reverting it does not."""
    booted = config({"modules.conf": "a\n"})
    changed = config({"modules.conf": "b\n"})
    on_disk = Live(booted=booted, files={"modules.conf": "b\n"})
    assert [str(r) for r in plan(on_disk, changed).restart] == [
        "modules.conf changed (read only at start-up)"
    ]
    assert plan(on_disk, booted).restart == ()
    assert plan(Live(booted=None, files={}), changed).restart == ()


def test_model_transport_changes_name_bind_port_and_protocol() -> None:
    """A new address, port or protocol, or a transport added or removed, needs a restart; the
    model's reason says from what to what."""
    new = base()
    new["addresses"]["ipv6"] = "2001:db8:e8b1::1:2"
    new["transports"] = {
        "udp6": {"family": "ipv6"},
        "tcp6": {"family": "ipv6", "protocol": "tcp"},
        "udp4-alt": {"family": "ipv4", "port": 5070},
    }
    reasons = transport_changes(SITE, load_dict(new).site)
    assert [str(r) for r in reasons] == [
        "transport tcp6 added",
        "transport udp4 removed",
        "transport udp4-alt added",
        "transport udp6 changed: udp [2001:db8:e8b1::1:1]:5060 -> udp [2001:db8:e8b1::1:2]:5060",
    ]


def test_reloadable_model_changes_need_no_restart() -> None:
    """Changing endpoints, trunks and the dialplan needs no restart."""
    changed = base()
    changed["endpoints"]["desk"]["max_contacts"] = 3
    changed["dialplan"]["extensions"]["12"] = "desk"
    assert transport_changes(SITE, load_dict(changed).site) == []


def test_a_transport_the_model_explains_is_reported_once() -> None:
    """When the model and the rendered text both see a transport change, the model's (more
    precise) reason is the only one."""
    new = base()
    new["transports"] = {"udp6": {"family": "ipv6", "port": 5070}, "udp4": {"family": "ipv4"}}
    old_text = "[udp6]\ntype = transport\nbind = [x]:5060\n"
    steps = plan(
        Live(booted=config({"pjsip.conf": old_text}), files={"pjsip.conf": old_text}),
        config({"pjsip.conf": old_text.replace("5060", "5070")}, load_dict(new)),
    )
    subjects = [r.subject for r in steps.restart]
    assert subjects.count("transport udp6") == 1
    assert "5070" in str(next(r for r in steps.restart if r.subject == "transport udp6"))


def test_rendered_transport_changes_name_the_keys() -> None:
    """A changed transport is reported with the keys that changed; added and removed too."""
    old = "[udp]\ntype = transport\nbind = [::]:5060\n[tcp]\ntype = transport\nbind = x\n"
    new = "[udp]\ntype = transport\nbind = [::]:5070\n[tls]\ntype = transport\nbind = y\n"
    assert [str(r) for r in rendered_transport_changes(old, new)] == [
        "transport tcp removed",
        "transport tls added",
        "transport udp changed: bind",
    ]


def test_auth_only_change_selects_its_registration() -> None:
    """Only registrations whose auth changed (and that did not change themselves) re-register."""
    assert registrations_with_changed_auth(REG + AUTH1, REG + AUTH2) == ["r"]
    assert registrations_with_changed_auth(REG + AUTH1, REG + AUTH1) == []
