"""No value from a site, a Secret or the render context can escape its option in a rendered file.

For each kind of value, hypothesis tries strings rich in what Asterisk's parser treats specially
(newline, CR, `;`, `[`, `]`, `#`, `=`, `,`, `(`, `)`, `$`, quotes, backslash, spaces, NUL, other
control and non-ASCII characters). Either validation rejects the site, or every rendered file
parses (with a reader written from Asterisk's config.c) into exactly the sections and option keys
that a harmless value gives, and the value lands, whole, in the option it belongs to.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.render import RenderContext, render
from supervisor.site.errors import SiteInvalid
from tests.supervisor.render.asterisk_conf import Section, find, parse, structure
from tests.supervisor.site.sites import SECRETS, base, load_dict

NASTY = [*"abcXZN019+_-.*#[];,()$\"'\\=> \t\n\r\x00\x0b\x7féü€/:@!~&", "${", ";--", "\\;"]
# `[` and `]` are fine inside a dialplan line (patterns use them); the shape check covers lines.
DIALPLAN_SPECIAL = set(',()$"\\;\n\r\t')

Site = dict[str, Any]
Files = dict[str, list[Section]]


@dataclass(frozen=True)
class Kind:
    """Where a value goes in the site and where it must land in the rendered files."""

    name: str
    placeholder: str
    put: Callable[[Site, dict[str, str], str], None]
    landed: Callable[[Files, str], None]
    dialplan: bool = False


def _set(path: tuple[Any, ...]) -> Callable[[Site, dict[str, str], str], None]:
    def put(site: Site, _secrets: dict[str, str], value: str) -> None:
        node = site
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return put


def _put_password(_site: Site, secrets: dict[str, str], value: str) -> None:
    secrets["desk-password"] = value


def _put_did(site: Site, _secrets: dict[str, str], value: str) -> None:
    site["trunks"]["provider"]["dids"] = [value]
    site["dialplan"]["inbound"] = {value: "all"}


def _put_extension(site: Site, _secrets: dict[str, str], value: str) -> None:
    site["dialplan"]["extensions"] = {value: "desk"}


def _put_host(site: Site, _secrets: dict[str, str], value: str) -> None:
    trunk = site["trunks"]["provider"]
    trunk["hosts"] = [value]
    trunk["identify"] = ["2001:db8:5060::10"]
    trunk["family"] = "ipv6"


def _put_endpoint_name(site: Site, _secrets: dict[str, str], value: str) -> None:
    site["endpoints"][value] = {"auth": {"password_secret": "desk-password"}}


def _put_identify(site: Site, _secrets: dict[str, str], value: str) -> None:
    site["endpoints"]["doorbell"]["identify"] = [value]
    site["endpoints"]["doorbell"]["family"] = None
    site["endpoints"]["doorbell"]["transport"] = "udp4"


def _option(files: Files, file: str, section: str, kind: str | None, key: str) -> str | None:
    return find(files[file], section, kind).get(key)


def _options(files: Files, file: str, section: str) -> list[tuple[str, str]]:
    return [o for s in files[file] if s.name == section for o in s.options]


KINDS = [
    Kind(
        "trunk username",
        "pod1",
        _set(("trunks", "provider", "auth", "username")),
        lambda f, v: (
            (
                _option(f, "pjsip.conf", "provider", "auth", "username") == v
                and _option(f, "pjsip.conf", "provider", "registration", "client_uri")
                == f"sip:{v}@[2001:db8:5060::10]:5060"
            )
            or _fail(f, v)
        ),
    ),
    Kind(
        "endpoint username",
        "desk",
        _set(("endpoints", "desk", "auth", "username")),
        lambda f, v: _option(f, "pjsip.conf", "desk", "auth", "username") == v or _fail(f, v),
    ),
    Kind(
        "password",
        "desk-secret",
        _put_password,
        lambda f, v: (
            _option(f, "pjsip.conf", "desk", "auth", "password")
            == v.removesuffix("\n").removesuffix("\r")
            or _fail(f, v)
        ),
    ),
    Kind(
        "caller ID name",
        "Home",
        _set(("trunks", "provider", "caller_id", "name")),
        lambda f, v: (
            ("same", f"n,Set(CALLERID(name)={v})") in _options(f, "extensions.conf", "outbound")
            or _fail(f, v)
        ),
        dialplan=True,
    ),
    Kind(
        "caller ID number",
        "+4930123456",
        _set(("trunks", "provider", "caller_id", "number")),
        lambda f, v: (
            ("same", f"n,Set(CALLERID(num)={v})") in _options(f, "extensions.conf", "outbound")
            or _fail(f, v)
        ),
        dialplan=True,
    ),
    Kind(
        "DID",
        "+4930123456",
        _put_did,
        lambda f, v: (
            ("exten", f"{v},1,Goto(ring-all,s,1)")
            in _options(f, "extensions.conf", "from-provider")
            or _fail(f, v)
        ),
        dialplan=True,
    ),
    Kind(
        "extension",
        "11",
        _put_extension,
        lambda f, v: (
            ("exten", f"{v},1,Set(FLOW_PHONE=desk)") in _options(f, "extensions.conf", "extensions")
            or _fail(f, v)
        ),
        dialplan=True,
    ),
    Kind(
        "pattern",
        "_0ZX.",
        _set(("dialplan", "outbound", 0, "pattern")),
        lambda f, v: (
            _options(f, "extensions.conf", "outbound")[0][1].startswith(f"{v},1,") or _fail(f, v)
        ),
        dialplan=True,
    ),
    Kind(
        "prepend",
        "+49",
        _set(("dialplan", "outbound", 0, "prepend")),
        lambda f, v: (
            ("same", f"n,Dial(PJSIP/{v}${{SAFE_NUMBER:1}}@provider)")
            in _options(f, "extensions.conf", "outbound")
            or _fail(f, v)
        ),
        dialplan=True,
    ),
    Kind(
        "host",
        "2001:db8:5060::10",
        _put_host,
        lambda f, v: (
            (
                _option(f, "pjsip.conf", "provider", "aor", "contact")
                == _option(f, "pjsip.conf", "provider", "registration", "server_uri")
                and v.lower().strip("[]")
                in (_option(f, "pjsip.conf", "provider", "aor", "contact") or "")
            )
            or _ipv6_landed(f, v)
        ),
    ),
    Kind(
        "user agent",
        "asterisk-supervisor",
        _set(("user_agent",)),
        lambda f, v: _option(f, "pjsip.conf", "global", "global", "user_agent") == v or _fail(f, v),
    ),
    Kind(
        "endpoint name",
        "hall",
        _put_endpoint_name,
        lambda f, v: (
            (
                _option(f, "pjsip.conf", v, "endpoint", "auth") == v
                and _option(f, "pjsip.conf", v, "aor", "max_contacts") == "1"
            )
            or _fail(f, v)
        ),
    ),
    Kind(
        "identify address",
        "198.51.100.20",
        _put_identify,
        lambda f, v: (
            _option(f, "pjsip.conf", "doorbell", "identify", "match") is not None or _fail(f, v)
        ),
    ),
]


def _ipv6_landed(files: Files, value: str) -> bool:
    import ipaddress

    contact = _option(files, "pjsip.conf", "provider", "aor", "contact")
    try:
        return contact == f"sip:[{ipaddress.ip_address(value)}]:5060"
    except ValueError:
        return _fail(files, value)


def _fail(files: Files, value: str) -> bool:
    raise AssertionError(f"{value!r} did not land where it belongs")


def _render(site: Site, secrets: dict[str, str]) -> Files | None:
    try:
        loaded = load_dict(site, secrets)
    except SiteInvalid:
        return None
    return {name: parse(text) for name, text in render(loaded, CONTEXT).items()}


CONTEXT = RenderContext(ami_secret="x")
EXAMPLES = 100
values = st.one_of(
    st.lists(st.sampled_from(NASTY), max_size=12).map("".join),
    st.text(max_size=16),
    st.sampled_from(
        ["pod1", "+4930", "_0X.", "_[1-3]X!", "Ho me", "a;b", "a\\;b", "2001:db8::1", "x.example"]
    ),
)


def _site_for(kind: Kind, value: str) -> tuple[Site, dict[str, str]]:
    site, secrets = base(), copy.deepcopy(SECRETS)
    kind.put(site, secrets, value)
    return site, secrets


@functools.cache
def _reference(name: str) -> Files:
    kind = next(k for k in KINDS if k.name == name)
    reference = _render(*_site_for(kind, kind.placeholder))
    assert reference is not None, f"the placeholder for {kind.name} must be valid"
    return reference


def _check(kind: Kind, value: str) -> None:
    site, secrets = _site_for(kind, value)
    files = _render(site, secrets)
    if files is None:
        return
    reference = _reference(kind.name)
    for name, sections in files.items():
        assert structure(sections) == structure(reference[name]), (name, value)
    kind.landed(files, value)
    if kind.dialplan:
        assert not set(value) & DIALPLAN_SPECIAL, value
        assert value == value.strip(), value


def _test_for(kind: Kind) -> Callable[[], None]:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=values)
    def test(value: str) -> None:
        _check(kind, value)

    test.__doc__ = f"A {kind.name} either fails validation or lands whole in its own option."
    return test


test_trunk_username = _test_for(KINDS[0])
test_endpoint_username = _test_for(KINDS[1])
test_password = _test_for(KINDS[2])
test_caller_id_name = _test_for(KINDS[3])
test_caller_id_number = _test_for(KINDS[4])
test_did = _test_for(KINDS[5])
test_extension = _test_for(KINDS[6])
test_pattern = _test_for(KINDS[7])
test_prepend = _test_for(KINDS[8])
test_host = _test_for(KINDS[9])
test_user_agent = _test_for(KINDS[10])
test_endpoint_name = _test_for(KINDS[11])
test_identify_address = _test_for(KINDS[12])


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    snippet=st.lists(
        st.one_of(st.sampled_from(NASTY), st.sampled_from(["\n", "[x]\n", "a = b\n"])), max_size=30
    ).map("".join)
)
def test_raw_snippet_cannot_touch_generated_sections(snippet: str) -> None:
    """A raw snippet either fails validation or leaves every generated section as it was."""
    site = base()
    site["raw"] = {"pjsip.conf": snippet, "extensions.conf": snippet}
    files = _render(site, copy.deepcopy(SECRETS))
    if files is None:
        return
    reference = _render(base(), copy.deepcopy(SECRETS))
    assert reference is not None
    for name in ("pjsip.conf", "extensions.conf"):
        generated = reference[name]
        assert files[name][: len(generated)] == generated


@settings(max_examples=EXAMPLES, deadline=None)
@given(secret=values)
def test_ami_secret_stays_in_its_option(secret: str) -> None:
    """The AMI secret is refused by the render context or lands whole in manager.conf."""
    try:
        context = RenderContext(ami_secret=secret)
    except ValueError:
        return
    files = render(load_dict(base()), context)
    manager = parse(files["manager.conf"])
    assert find(manager, "supervisor").get("secret") == secret
    assert structure(manager) == structure(
        parse(render(load_dict(base()), CONTEXT)["manager.conf"])
    )


def test_every_kind_has_a_valid_placeholder_that_lands() -> None:
    """Each kind's harmless value validates and lands, so the properties above are not vacuous."""
    for kind in KINDS:
        site, secrets = _site_for(kind, kind.placeholder)
        files = _render(site, secrets)
        assert files is not None, kind.name
        kind.landed(files, kind.placeholder)


def test_semicolon_in_a_password_is_escaped_not_lost() -> None:
    """A `;` in a Secret password is written `\\;` and read back by Asterisk's rules as `;`."""
    _check(KINDS[2], "pa;ss\\;word")
    site, secrets = _site_for(KINDS[2], "pa;ss")
    loaded = load_dict(site, secrets)
    assert "password = pa\\;ss\n" in render(loaded, CONTEXT)["pjsip.conf"]
