"""The renderer: golden files for examples/home, determinism, where secrets go, raw snippets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from supervisor.render import MODULE_OF_FILE, SECRET_FILES, Prometheus, RenderContext, render
from supervisor.site.load import load_site_dirs
from tests.supervisor.render.asterisk_conf import find, parse
from tests.supervisor.site.sites import EXAMPLES, base, load_dict

GOLDEN = Path(__file__).parent / "golden"
CONTEXT = RenderContext(ami_secret="golden-ami-secret")


def home() -> dict[str, str]:
    loaded = load_site_dirs([EXAMPLES / "home" / "site"], [EXAMPLES / "home" / "secrets"])
    return render(loaded, CONTEXT)


def test_home_matches_golden_files() -> None:
    """examples/home renders exactly the reviewed files (UPDATE_GOLDEN=1 rewrites them)."""
    files = home()
    target = GOLDEN / "home"
    if os.environ.get("UPDATE_GOLDEN"):
        target.mkdir(parents=True, exist_ok=True)
        for old in target.iterdir():
            old.unlink()
        for name, text in files.items():
            (target / name).write_text(text)
    # Every rendered file: the .conf files and the tls transport's certificate files.
    expected = {p.name: p.read_text() for p in sorted(target.iterdir())}
    assert files == expected


def test_render_is_deterministic_and_parses() -> None:
    """Two renders are identical, and every file is plain Asterisk config syntax."""
    first, second = home(), home()
    assert first == second
    for name, text in first.items():
        if name.endswith(".conf"):  # the others are a tls transport's PEM files
            parse(text)


def test_every_file_has_a_reload_module() -> None:
    """MODULE_OF_FILE covers every file the renderer can write."""
    files = render(load_dict(base()), RenderContext(ami_secret="x", prometheus=Prometheus()))
    files |= home()
    assert all(name in MODULE_OF_FILE for name in files)


def test_secrets_appear_only_in_auth_sections_and_manager() -> None:
    """Passwords are in pjsip.conf auth sections only; the AMI secret only in manager.conf."""
    files = home()
    for name, text in files.items():
        for secret in ("provider-secret", "desk-secret", "kitchen\\;secret"):
            if secret in text:
                assert name == "pjsip.conf"
                for section in parse(text):
                    if any(secret.replace("\\", "") in v for _, v in section.options):
                        assert section.get("type") == "auth"
        if "golden-ami-secret" in text:
            assert name in SECRET_FILES
            assert name == "manager.conf"
    pjsip = parse(files["pjsip.conf"])
    assert find(pjsip, "kitchen", "auth").get("password") == "kitchen;secret"


def test_manager_listens_on_loopback_with_subscription_classes() -> None:
    """manager.conf: 127.0.0.1 only, the supervisor's user with its classes and event filters."""
    from supervisor import amiaccess

    manager = parse(home()["manager.conf"])
    general = find(manager, "general")
    assert general.get("bindaddr") == "127.0.0.1"
    user = find(manager, "supervisor")
    assert user.get("read") == ",".join(amiaccess.READ_CLASSES)
    assert user.get("write") == ",".join(amiaccess.WRITE_CLASSES)
    filters = [(k, v) for k, v in user.options if k.startswith("eventfilter")]
    assert filters == [
        *((f"eventfilter(action(include),name({e}))", "") for e in amiaccess.EVENTS),
        *(
            (f"eventfilter(action(include),name({e}),header({h}),method(exact))", v)
            for e, h, v in amiaccess.HEADER_EVENTS
        ),
    ]


def test_transports_bind_to_the_site_addresses() -> None:
    """Transports bind to the pod's addresses, not wildcards, unless asked."""
    pjsip = parse(home()["pjsip.conf"])
    assert find(pjsip, "udp6", "transport").get("bind") == "[2001:db8:e8b1::1:1]:5060"
    assert find(pjsip, "udp4", "transport").get("bind") == "203.0.113.10:5060"
    site = base()
    site["transports"] = {
        "any6": {"family": "ipv6", "bind": "wildcard", "port": 5070},
        "udp4": {"family": "ipv4"},
    }
    pjsip = parse(render(load_dict(site), CONTEXT)["pjsip.conf"])
    assert find(pjsip, "any6", "transport").get("bind") == "[::]:5070"


def test_raw_snippet_is_appended_after_a_marker() -> None:
    """A raw snippet lands at the end of its file, in its own section."""
    site = base()
    site["raw"] = {"pjsip.conf": "[extra-aor]\ntype = aor\ncontact = sip:[2001:db8::5]\n"}
    pjsip = render(load_dict(site), CONTEXT)["pjsip.conf"]
    assert pjsip.endswith(
        "; ---- raw snippet from the site description (raw.pjsip.conf) ----\n"
        "[extra-aor]\ntype = aor\ncontact = sip:[2001:db8::5]\n"
    )
    assert parse(pjsip)[-1].name == "extra-aor"


@pytest.mark.parametrize("enabled", [True, False])
def test_prometheus_files_only_when_enabled(enabled: bool) -> None:
    """http.conf enables the HTTP server and prometheus.conf exists only with Prometheus."""
    context = RenderContext(
        ami_secret="x", prometheus=Prometheus(bind="127.0.0.1", port=8088) if enabled else None
    )
    files = render(load_dict(base()), context)
    assert ("prometheus.conf" in files) is enabled
    assert ("load = res_prometheus.so" in files["modules.conf"]) is enabled
    assert find(parse(files["http.conf"]), "general").get("enabled") == ("yes" if enabled else "no")


def test_render_context_rejects_unsafe_values() -> None:
    """The render context refuses an AMI secret or directory that could break its file."""
    with pytest.raises(ValueError, match="ami_secret"):
        RenderContext(ami_secret="a\nb")
    with pytest.raises(ValueError, match="astetcdir"):
        RenderContext(ami_secret="x", directories=type(CONTEXT.directories)(astetcdir="etc"))


def test_trunk_from_header_options() -> None:
    """from_user and from_domain of a trunk land on its endpoint section only when given."""
    site = base()
    pjsip = parse(render(load_dict(site), CONTEXT)["pjsip.conf"])
    assert find(pjsip, "provider", "endpoint").get("from_user") is None
    site["trunks"]["provider"] |= {"from_user": "pod1", "from_domain": "voip.example"}
    pjsip = parse(render(load_dict(site), CONTEXT)["pjsip.conf"])
    assert find(pjsip, "provider", "endpoint").get("from_user") == "pod1"
    assert find(pjsip, "provider", "endpoint").get("from_domain") == "voip.example"


def test_blocked_sources_render_one_deny_acl() -> None:
    """Bans render a named ACL in acl.conf (canonical, sorted, de-duplicated deny rules with
    their prefix length, IPv4 before IPv6) and one pjsip.conf ACL object referring to it."""
    import ipaddress

    loaded = load_site_dirs([EXAMPLES / "home" / "site"], [EXAMPLES / "home" / "secrets"])
    blocked = [
        ipaddress.ip_network(a)
        for a in ("2001:db8:bad:0::/64", "198.51.100.66/32", "198.51.100.7", "198.51.100.66")
    ]
    files = render(loaded, CONTEXT, blocked)
    acl = find(parse(files["pjsip.conf"]), "supervisor-blocked")
    assert acl.options == [("type", "acl"), ("acl", "supervisor-blocked")]
    named = find(parse(files["acl.conf"]), "supervisor-blocked")
    assert named.options == [("deny", "198.51.100.7/32,198.51.100.66/32,2001:db8:bad::/64")]
    assert "supervisor-blocked" not in render(loaded, CONTEXT)["acl.conf"]
    assert "supervisor-blocked" not in render(loaded, CONTEXT)["pjsip.conf"]
