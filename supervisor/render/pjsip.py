"""pjsip.conf: transports bound to the pod's addresses, trunks (auth, aor, endpoint, identify,
registration) and endpoints (auth or identify)."""

from __future__ import annotations

from collections.abc import Mapping

from supervisor.render.conf import GENERATED, Option, document, section
from supervisor.site.grammar import escape_value, family_of
from supervisor.site.model import Endpoint, Family, Site, Transport, Trunk


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if family_of(host) == "ipv6" else f"{host}:{port}"


def _bind(site: Site, transport: Transport) -> str:
    address = site.addresses.of(transport.family) if transport.bind == "address" else None
    if address is None:
        address = "::" if transport.family == "ipv6" else "0.0.0.0"
    return _hostport(address, transport.port)


def _auth(name: str, username: str, password: str) -> str:
    return section(
        name,
        [
            ("type", "auth"),
            ("auth_type", "digest"),
            ("username", username),
            ("password", escape_value(password)),
        ],
    )


def _media(site: Site, codecs: tuple[str, ...], family: Family) -> list[Option]:
    """Codecs, and RTP bound to the pod's address of the family: never a wildcard (a wildcard
    RTP socket makes Asterisk look up its host name for RTCP, and the SDP would not say which
    of the pod's addresses to use)."""
    address = site.addresses.of(family)
    assert address is not None
    return [
        ("disallow", "all"),
        ("allow", ",".join(codecs)),
        ("direct_media", "no"),
        ("rtp_ipv6", "yes" if family == "ipv6" else "no"),
        ("media_address", address),
        ("bind_rtp_to_media_address", "yes"),
    ]


def _identify(name: str, matches: tuple[str, ...]) -> str:
    return section(name, [("type", "identify"), ("endpoint", name), ("match", ",".join(matches))])


def trunk_sections(site: Site, name: str, trunk: Trunk, secrets: Mapping[str, str]) -> list[str]:
    transport = site.trunk_transport(name)
    family = site.trunk_family(name)
    host = _hostport(trunk.hosts[0], trunk.port)
    out = []
    endpoint: list[Option] = [
        ("type", "endpoint"),
        ("transport", transport),
        ("context", f"from-{name}"),
        *_media(site, trunk.codecs, family),
        ("aors", name),
    ]
    if trunk.auth is not None:
        out.append(_auth(name, trunk.auth.username, secrets[trunk.auth.password_secret]))
        endpoint.append(("outbound_auth", name))
    if trunk.from_user is not None:
        endpoint.append(("from_user", trunk.from_user))
    if trunk.from_domain is not None:
        endpoint.append(("from_domain", trunk.from_domain))
    out.append(section(name, [("type", "aor"), ("contact", f"sip:{host}")]))
    out.append(section(name, endpoint))
    if trunk.identify:
        out.append(_identify(name, trunk.identify))
    if trunk.registration is not None and trunk.auth is not None:
        reg = trunk.registration
        user = trunk.auth.username
        out.append(
            section(
                name,
                [
                    ("type", "registration"),
                    ("transport", transport),
                    ("outbound_auth", name),
                    ("server_uri", f"sip:{host}"),
                    ("client_uri", f"sip:{user}@{host}"),
                    ("contact_user", user),
                    ("expiration", reg.expiry),
                    ("retry_interval", reg.retry),
                    ("forbidden_retry_interval", reg.forbidden_retry),
                    ("max_retries", 1000000),
                    ("auth_rejection_permanent", "no"),
                ],
            )
        )
    return out


def endpoint_sections(
    site: Site, name: str, endpoint: Endpoint, secrets: Mapping[str, str]
) -> list[str]:
    out = []
    family = site.endpoint_family(name)
    options: list[Option] = [("type", "endpoint")]
    if endpoint.transport is not None:
        options.append(("transport", endpoint.transport))
    options += [("context", endpoint.context), *_media(site, endpoint.codecs, family)]
    if endpoint.auth is not None:
        username = endpoint.auth.username or name
        out.append(_auth(name, username, secrets[endpoint.auth.password_secret]))
        out.append(
            section(
                name,
                [
                    ("type", "aor"),
                    ("max_contacts", endpoint.max_contacts),
                    ("remove_existing", "yes"),
                    ("qualify_frequency", endpoint.qualify),
                ],
            )
        )
        options += [("auth", name), ("aors", name)]
    out.append(section(name, options))
    if endpoint.identify:
        out.append(_identify(name, endpoint.identify))
    return out


def render_pjsip(site: Site, secrets: Mapping[str, str]) -> str:
    sections = [
        section("global", [("type", "global"), ("user_agent", site.user_agent)]),
    ]
    for name, transport in site.transports.items():
        sections.append(
            section(
                name,
                [
                    ("type", "transport"),
                    ("protocol", transport.protocol),
                    ("bind", _bind(site, transport)),
                ],
            )
        )
    for name, trunk in site.trunks.items():
        sections += trunk_sections(site, name, trunk, secrets)
    for name, endpoint in site.endpoints.items():
        sections += endpoint_sections(site, name, endpoint, secrets)
    return document(GENERATED, sections)
