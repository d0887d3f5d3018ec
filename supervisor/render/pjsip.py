"""pjsip.conf: transports bound to the pod's addresses, trunks (auth, aor, endpoint, identify,
registration) and endpoints (auth or identify); and the TLS files of tls transports.

A tls transport's certificate, key and CA bundle are written next to pjsip.conf under names fixed
by the transport's name (`tls-<transport>.crt`, `.key`, `tlsca-<transport>.crt`: distinct
prefixes, so no two transports' files can share a name, as `tls-<transport>-ca.crt` did for
transports `tls6` and `tls6-ca`). The names must never change:
Asterisk 22 restarts a TLS listener with a new certificate only when the file's name is the same
and its size or mtime changed (see `supervisor.reload`); a new name leaves the old certificate
served until Asterisk restarts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Final

from supervisor.render.acl import acl_section
from supervisor.render.conf import GENERATED, Option, document, section
from supervisor.render.features import PHONE_VARIABLE
from supervisor.render.voicemail import BOX_VARIABLE, mailbox
from supervisor.security.events import IPNetwork
from supervisor.site.grammar import escape_value, family_of
from supervisor.site.model import Endpoint, Family, MediaEncryption, Transport, Trunk
from supervisor.site.resolve import ResolvedSite
from supervisor.site.sections import limit_context, trunk_context
from supervisor.tls.certs import SYSTEM_CA_PATH

#: The TLS files of a transport: `tls-<name>.crt`, `tls-<name>.key`, `tlsca-<name>.crt`.
TLS_FILE_RE: Final = re.compile(
    r"tls-[A-Za-z0-9][A-Za-z0-9_.-]{0,39}\.(?:crt|key)|tlsca-[A-Za-z0-9][A-Za-z0-9_.-]{0,39}\.crt"
)
METHOD_OF_VERSION: Final = {
    # Measured on Asterisk 22.10 (OpenSSL 3): no method accepts no modern client at all;
    # tlsv1_2 accepts only 1.2; sslv23 negotiates 1.3 or 1.2 (OpenSSL refuses 1.0/1.1);
    # tlsv1_3 accepts only 1.3.
    "1.2": "sslv23",
    "1.3": "tlsv1_3",
}


def tls_files(name: str) -> tuple[str, str, str]:
    """(certificate, key, CA bundle) file names of tls transport `name`: injective (a name holds
    no `/`; `tls-` and `tlsca-` differ at their fourth character, `.crt` and `.key` at the end)."""
    return f"tls-{name}.crt", f"tls-{name}.key", f"tlsca-{name}.crt"


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if family_of(host) == "ipv6" else f"{host}:{port}"


def _bind(site: ResolvedSite, transport: Transport) -> str:
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


def _media(
    site: ResolvedSite, codecs: tuple[str, ...], family: Family, *, direct: bool = False
) -> list[Option]:
    """Codecs, and RTP bound to the pod's address of the family: never a wildcard (a wildcard
    RTP socket makes Asterisk look up its host name for RTCP, and the SDP would not say which
    of the pod's addresses to use)."""
    address = site.addresses.of(family)
    assert address is not None
    return [
        ("disallow", "all"),
        ("allow", ",".join(codecs)),
        ("direct_media", "yes" if direct else "no"),
        ("rtp_ipv6", "yes" if family == "ipv6" else "no"),
        ("media_address", address),
        ("bind_rtp_to_media_address", "yes"),
    ]


def _media_encryption(media: MediaEncryption | None) -> list[Option]:
    if media is None:
        return []
    options: list[Option] = [
        ("media_encryption", media.method),
        ("media_encryption_optimistic", "no" if media.required else "yes"),
    ]
    if media.method == "dtls":
        # A per-boot self-signed DTLS certificate: peers check it against the SDP fingerprint.
        options += [
            ("dtls_auto_generate_cert", "yes"),
            ("dtls_verify", "fingerprint"),
            ("dtls_setup", "actpass"),
        ]
    return options


def _uri_params(site: ResolvedSite, transport: str) -> str:
    """`;transport=tls` for a trunk over a tls transport (else nothing: UDP is the default), with
    the `;` escaped (it starts a comment in Asterisk's config files). Without it pjsip would pick
    UDP for the URI and refuse the tls transport the trunk names."""
    spec = site.transports.get(transport)
    return escape_value(";transport=tls") if spec is not None and spec.protocol == "tls" else ""


def _identify(name: str, matches: tuple[str, ...], extra: list[Option]) -> str:
    return section(
        name, [("type", "identify"), ("endpoint", name), ("match", ",".join(matches)), *extra]
    )


def _extra(options: Mapping[str, Mapping[str, str]], kind: str) -> list[Option]:
    """The site's `options` for object `kind` (checked by the loader: site/options.py)."""
    return list(options.get(kind, {}).items())


def trunk_sections(
    site: ResolvedSite, name: str, trunk: Trunk, secrets: Mapping[str, str]
) -> list[str]:
    transport = site.trunk_transport(name)
    family = site.trunk_family(name)
    host = _hostport(trunk.hosts[0], site.trunk_port(name))
    params = _uri_params(site, transport)
    out = []
    endpoint: list[Option] = [
        ("type", "endpoint"),
        ("transport", transport),
        ("context", trunk_context(name)),
        *_media(site, trunk.codecs, family),
        *_media_encryption(trunk.media_encryption),
        ("aors", name),
    ]
    if trunk.auth is not None:
        out.append(_auth(name, trunk.auth.username, secrets[trunk.auth.password_secret]))
        endpoint.append(("outbound_auth", name))
    if trunk.from_user is not None:
        endpoint.append(("from_user", trunk.from_user))
    if trunk.from_domain is not None:
        endpoint.append(("from_domain", trunk.from_domain))
    endpoint += _extra(trunk.options, "endpoint")
    aor: list[Option] = [("type", "aor"), ("contact", f"sip:{host}{params}")]
    out.append(section(name, aor + _extra(trunk.options, "aor")))
    out.append(section(name, endpoint))
    if trunk.identify:
        out.append(_identify(name, trunk.identify, _extra(trunk.options, "identify")))
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
                    ("server_uri", f"sip:{host}{params}"),
                    ("client_uri", f"sip:{user}@{host}"),
                    ("contact_user", user),
                    ("expiration", reg.expiry),
                    ("retry_interval", reg.retry),
                    ("forbidden_retry_interval", reg.forbidden_retry),
                    ("max_retries", 1000000),
                    ("auth_rejection_permanent", "no"),
                    *_extra(trunk.options, "registration"),
                ],
            )
        )
    return out


def _phone_keys(site: ResolvedSite, name: str, endpoint: Endpoint) -> list[Option]:
    """Caller ID, DTMF, language, transfer and pickup groups of a phone."""
    options: list[Option] = []
    caller = endpoint.caller_id
    number = caller.number if caller is not None and caller.number else None
    number = number or site.default_mailbox_number(name)
    if caller is not None and (caller.name or number):
        shown = f"{caller.name} " if caller.name else ""
        options.append(("callerid", f"{shown}<{number or ''}>"))
    options += [("dtmf_mode", endpoint.dtmf_mode), ("allow_transfer", yes(endpoint.transfer))]
    if endpoint.language is not None:
        options.append(("language", endpoint.language))
    if endpoint.music_on_hold is not None:
        # The class the other party hears while this phone holds the call.
        options.append(("moh_suggest", endpoint.music_on_hold))
    if endpoint.pickup_groups:
        groups = ",".join(endpoint.pickup_groups)
        options += [("named_call_group", groups), ("named_pickup_group", groups)]
    behind = site.nat.phones if endpoint.nat is None else endpoint.nat
    if behind:
        # Replies and calls go to the address and port the phone's requests came from (its
        # router's mapping), media to where its RTP comes from (res_pjsip_nat).
        options += [("rewrite_contact", "yes"), ("force_rport", "yes"), ("rtp_symmetric", "yes")]
    return options


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def endpoint_sections(
    site: ResolvedSite, name: str, endpoint: Endpoint, secrets: Mapping[str, str]
) -> list[str]:
    out = []
    family = site.endpoint_family(name)
    options: list[Option] = [("type", "endpoint")]
    if endpoint.transport is not None:
        options.append(("transport", endpoint.transport))
    if endpoint.call_limit is None:
        options.append(("context", endpoint.context))
    else:
        # Calls enter the limit's context first; BLF subscriptions still find the hints in
        # the device's own context.
        options += [("context", limit_context(name)), ("subscribe_context", endpoint.context)]
    options += _media(site, endpoint.codecs, family, direct=endpoint.direct_media)
    options += _media_encryption(endpoint.media_encryption)
    options += _phone_keys(site, name, endpoint)
    if endpoint.auth is not None:
        username = endpoint.auth.username or name
        out.append(_auth(name, username, secrets[endpoint.auth.password_secret]))
        aor: list[Option] = [
            ("type", "aor"),
            ("max_contacts", endpoint.max_contacts),
            ("remove_existing", "yes"),
            ("qualify_frequency", endpoint.qualify),
        ]
        options += [("auth", name), ("aors", name)]
        if site.featured(name):
            # The feature codes key astdb by this, never by anything the caller sends.
            options.append(("set_var", f"{PHONE_VARIABLE}={name}"))
        if endpoint.voicemail is not None:
            box = mailbox(site.mailbox_number(name))
            # Unsolicited message-summary NOTIFYs to the registered contacts (endpoint), and
            # SUBSCRIBE accepted for phones that ask (AOR); a subscription replaces the
            # unsolicited ones, so a phone never gets both.
            aor.append(("mailboxes", box))
            options += [
                ("mailboxes", box),
                ("mwi_subscribe_replaces_unsolicited", "yes"),
                ("set_var", f"{BOX_VARIABLE}={site.mailbox_number(name)}"),
            ]
        out.append(section(name, aor + _extra(endpoint.options, "aor")))
    out.append(section(name, options + _extra(endpoint.options, "endpoint")))
    if endpoint.identify:
        out.append(_identify(name, endpoint.identify, _extra(endpoint.options, "identify")))
    return out


def _ca_bundle(site: ResolvedSite, name: str, secrets: Mapping[str, str]) -> tuple[list[str], bool]:
    """(PEM texts trusted on transport `name`, whether the system store is needed): the
    transport's CA (when the Secret has it) and the CAs of verifying trunks on it; a verifying
    trunk without its own CA trusts the system store."""
    transport = site.transports[name]
    pems: list[str] = []
    own = transport.tls.ca_secret if transport.tls is not None else None
    if own is not None and own in secrets:
        pems.append(secrets[own])
    system = False
    for trunk_name, trunk in site.trunks.items():
        if site.trunk_transport(trunk_name) != name or trunk.tls is None or not trunk.tls.verify:
            continue
        if trunk.tls.ca_secret is None:
            system = True
        elif secrets[trunk.tls.ca_secret] not in pems:
            pems.append(secrets[trunk.tls.ca_secret])
    return pems, system


def _verifies(site: ResolvedSite, name: str) -> bool:
    """Whether Asterisk verifies the servers it connects to over tls transport `name`: as the
    trunks on it say (the checks make them agree). A transport for phones only does not: Asterisk
    reaches a phone over the connection it registered on, and phones rarely hold certificates
    from a CA (their own certificates are not what secures the call)."""
    for trunk_name, trunk in site.trunks.items():
        if site.trunk_transport(trunk_name) == name and trunk.tls is not None:
            return trunk.tls.verify
    return False


def _transport(
    site: ResolvedSite, name: str, transport: Transport, etc: str, secrets: Mapping[str, str]
) -> str:
    options: list[Option] = [
        ("type", "transport"),
        ("protocol", transport.protocol),
        ("bind", _bind(site, transport)),
    ]
    pbx = site.nat.pbx
    external = pbx.external(transport.family) if pbx is not None else None
    if pbx is not None and external is not None:
        # The PBX behind a NAT router: peers outside local_net see the router's address.
        options += [
            ("external_signaling_address", external),
            ("external_media_address", external),
        ]
        options += [("local_net", network) for network in pbx.local_networks]
    if transport.protocol == "tls" and transport.tls is not None:
        spec = transport.tls
        cert, key, ca = (str(PurePosixPath(etc) / f) for f in tls_files(name))
        pems, system = _ca_bundle(site, name, secrets)
        options += [("cert_file", cert), ("priv_key_file", key)]
        if pems:
            options.append(("ca_list_file", ca))
        if system:
            options.append(("ca_list_path", SYSTEM_CA_PATH))
        options += [
            ("method", METHOD_OF_VERSION[spec.min_version]),
            ("cipher", ",".join(spec.ciphers)),
            ("verify_server", "yes" if _verifies(site, name) else "no"),
            ("verify_client", "no"),
            ("require_client_cert", "no"),
            # "no" is what makes a certificate rotation live: a reload then restarts only the
            # TLS listener, and only when the certificate or key file changed (see reload).
            ("allow_reload", "no"),
        ]
    return section(name, options + list(transport.options.items()))


def render_tls_files(site: ResolvedSite, secrets: Mapping[str, str]) -> dict[str, str]:
    """The certificate, key and CA bundle files of every tls transport."""
    files: dict[str, str] = {}
    for name, transport in site.transports.items():
        if transport.protocol != "tls" or transport.tls is None:
            continue
        cert, key, ca = tls_files(name)
        files[cert] = _pem(secrets[transport.tls.cert_secret])
        files[key] = _pem(secrets[transport.tls.key_secret])
        pems, _ = _ca_bundle(site, name, secrets)
        if pems:
            files[ca] = "".join(_pem(p) for p in pems)
    return files


def _pem(text: str) -> str:
    return text.strip() + "\n"


#: Hardened globals (docs/security.md says why). Unknown users and wrong passwords get the same
#: 401 from Asterisk itself (its artificial endpoint and auth, in the default realm, which the
#: renderer never changes). No `anonymous` identifier: no guest calls, even from a raw
#: `[anonymous]` endpoint. (`unidentified_request_*` are not set: Asterisk 22 applies them only
#: with the `auth_username` identifier, which is not used; every unidentified request is
#: reported at once.)
HARDENED_GLOBALS: list[Option] = [("endpoint_identifier_order", "ip,username")]


def render_pjsip(
    site: ResolvedSite,
    secrets: Mapping[str, str],
    etc: str = "/etc/asterisk",
    blocked: Iterable[IPNetwork] = (),
) -> str:
    """pjsip.conf; while sources are `blocked`, a res_pjsip ACL object that refers to the named
    ACL of acl.conf holding them (render/acl.py, supervisor.security)."""
    sections = [
        section(
            "global",
            [("type", "global"), ("user_agent", site.user_agent), *HARDENED_GLOBALS],
        ),
    ]
    for name, transport in site.transports.items():
        sections.append(_transport(site, name, transport, etc, secrets))
    for name, trunk in site.trunks.items():
        sections += trunk_sections(site, name, trunk, secrets)
    for name, endpoint in site.endpoints.items():
        sections += endpoint_sections(site, name, endpoint, secrets)
    acl = acl_section(tuple(blocked))
    if acl is not None:
        sections.append(acl)
    return document(GENERATED, sections)
