"""`options:` of trunks, endpoints and transports: pjsip options the model does not type, passed
through to the object they belong to and checked first.

An option must be one Asterisk documents for that object type (`supervisor.asterisk_facts`),
with a documented value where the documentation lists the values. Refused, with the reason:
options a field of the model sets (use the field), and options that would undo a guarantee the
site gives (who may call, where calls and media go, what the security guard relies on).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final, Literal

from supervisor.asterisk_facts import AsteriskFacts, facts
from supervisor.site.grammar import family_of
from supervisor.site.model import Site
from supervisor.site.yamlsource import Path

Owner = Literal["trunk", "endpoint", "transport"]
Found = tuple[Path, str]

#: The pjsip object types an owner renders, that `options` may add to.
OBJECTS: Final[Mapping[Owner, tuple[str, ...]]] = {
    "trunk": ("endpoint", "aor", "registration", "identify"),
    "endpoint": ("endpoint", "aor", "identify"),
    "transport": ("transport",),
}

_CODECS = "set by codecs"
_MEDIA = "set by media_encryption"
_NO_NAT = (
    "media and signalling are bound to the pod's own address, which the supervisor checks; "
    "an address rewrite would announce one it does not"
)
_CONTEXT = (
    "names a dialplan context: requests from this endpoint would reach dialplan the site did "
    "not give it"
)
_ACL = "access lists are the security guard's (security.allow, identify)"

#: Options of each (owner, object type) set by a field: the field to use.
TYPED: Final[Mapping[tuple[Owner, str], Mapping[str, str]]] = {
    ("trunk", "endpoint"): {
        "type": "the object's type is fixed",
        "transport": "set by transport",
        "context": "calls from a trunk enter its own context, routed by dids and "
        "dialplan.inbound; another would let the provider's callers reach internal numbers "
        "or dial out",
        "disallow": _CODECS,
        "allow": _CODECS,
        "aors": "set by the trunk (its own aor)",
        "outbound_auth": "set by auth",
        "auth": "a trunk is not asked for credentials (it is identified by address)",
        "from_user": "set by from_user",
        "from_domain": "set by from_domain",
        "media_encryption": _MEDIA,
        "media_encryption_optimistic": _MEDIA,
        "callerid": "set by caller_id (on calls out)",
        "direct_media": "media passes through the pod's own address, bound and checked",
    },
    ("endpoint", "endpoint"): {
        "type": "the object's type is fixed",
        "transport": "set by transport",
        "context": "set by context",
        "disallow": _CODECS,
        "allow": _CODECS,
        "aors": "set by the endpoint (its own aor)",
        "auth": "set by auth",
        "outbound_auth": "Asterisk never authenticates to a phone",
        "media_encryption": _MEDIA,
        "media_encryption_optimistic": _MEDIA,
        "mailboxes": "set by voicemail",
        "mwi_subscribe_replaces_unsolicited": "set by voicemail",
        "callerid": "set by caller_id",
        "dtmf_mode": "set by dtmf_mode",
        "language": "set by language",
        "direct_media": "set by direct_media",
        "allow_transfer": "set by transfer",
        "named_call_group": "set by pickup_groups",
        "named_pickup_group": "set by pickup_groups",
        "rewrite_contact": "set by nat",
        "force_rport": "set by nat",
        "rtp_symmetric": "set by nat",
    },
    ("trunk", "aor"): {
        "type": "the object's type is fixed",
        "contact": "set by hosts and port",
    },
    ("endpoint", "aor"): {
        "type": "the object's type is fixed",
        "max_contacts": "set by max_contacts",
        "remove_existing": "set by max_contacts (the newest registration replaces the oldest)",
        "qualify_frequency": "set by qualify",
        "mailboxes": "set by voicemail",
    },
    ("trunk", "registration"): {
        "type": "the object's type is fixed",
        "transport": "set by transport",
        "outbound_auth": "set by auth",
        "server_uri": "set by hosts and port",
        "client_uri": "set by auth.username and hosts",
        "contact_user": "set by auth.username",
        "expiration": "set by registration.expiry",
        "retry_interval": "set by registration.retry",
        "forbidden_retry_interval": "set by registration.forbidden_retry",
        "max_retries": "the supervisor keeps retrying (registration.retry)",
        "auth_rejection_permanent": "the supervisor keeps retrying after a rejection",
    },
    ("trunk", "identify"): {
        "type": "the object's type is fixed",
        "endpoint": "the trunk's own endpoint",
        "match": "set by identify (or the hosts given as addresses)",
    },
    ("endpoint", "identify"): {
        "type": "the object's type is fixed",
        "endpoint": "the device's own endpoint",
        "match": "set by identify",
    },
    ("transport", "transport"): {
        "type": "the object's type is fixed",
        "protocol": "set by protocol",
        "bind": "set by family, port and bind",
        "cert_file": "set by tls.cert_secret",
        "priv_key_file": "set by tls.key_secret",
        "ca_list_file": "set by tls.ca_secret and the trunks' tls.ca_secret",
        "ca_list_path": "set by the trunks' tls (the system store)",
        "method": "set by tls.min_version",
        "cipher": "set by tls.ciphers",
        "verify_server": "set by the trunks' tls.verify",
        "verify_client": "phones are authenticated by digest, not certificates",
        "require_client_cert": "phones are authenticated by digest, not certificates",
        "allow_reload": "the supervisor rotates certificates itself (docs/tls.md)",
        "external_media_address": "set by nat.pbx",
        "external_signaling_address": "set by nat.pbx",
        "external_signaling_port": "the router forwards the transport's own port (nat.pbx)",
        "local_net": "set by nat.pbx.local_networks",
    },
}

#: Options refused whatever the owner: why each would undo a guarantee.
UNSAFE: Final[Mapping[str, Mapping[str, str]]] = {
    "endpoint": {
        "allow_unauthenticated_options": "would answer OPTIONS from anyone without a "
        "password: a scanner's probe of which accounts exist",
        "identify_by": "how callers are matched to endpoints is decided by auth and identify",
        "acl": _ACL,
        "deny": _ACL,
        "permit": _ACL,
        "contact_acl": _ACL,
        "contact_deny": _ACL,
        "contact_permit": _ACL,
        "media_address": _NO_NAT,
        "bind_rtp_to_media_address": _NO_NAT,
        "rtp_ipv6": "set by the family",
        "ice_support": "ICE gathers candidates from DNS look-ups the pod cannot make; media "
        "goes to the pod's own address",
        "webrtc": "turns on ICE, AVPF and DTLS at once: use media_encryption dtls",
        "message_context": _CONTEXT,
        "overlap_context": _CONTEXT,
        "subscribe_context": _CONTEXT,
        "set_var": "channel variables steer the rendered dialplan (e.g. the caller's own "
        "voicemail box)",
        "redirect_method": "a 3xx from the far end would send the call to a destination it "
        "names, past the site's outbound routes",
        "follow_redirect_methods": "a 3xx from the far end would send the call to a "
        "destination it names, past the site's outbound routes",
        "rtp_port_start": "the RTP port range is the site's (rtp.conf)",
        "rtp_port_end": "the RTP port range is the site's (rtp.conf)",
        "dtls_auto_generate_cert": _MEDIA,
        "dtls_verify": _MEDIA,
        "dtls_setup": _MEDIA,
        "dtls_cert_file": _MEDIA,
        "dtls_private_key": _MEDIA,
        "dtls_ca_file": _MEDIA,
        "dtls_ca_path": _MEDIA,
        "dtls_cipher": _MEDIA,
        "dtls_fingerprint": _MEDIA,
        "dtls_rekey": _MEDIA,
    },
    "aor": {
        "contact": "a static contact sends the phone's calls to an address without "
        "registration or password",
    },
    "identify": {
        "match_header": "would let anyone who sends that header in as this trunk, without a "
        "password",
        "match_request_uri": "would let anyone who dials that URI in as this trunk, without a "
        "password",
    },
    "transport": {
        "password": "a key passphrase would sit in the ConfigMap: keys in the Secret are "
        "unencrypted",
        "allow_wildcard_certs": "weakens the check of the provider's certificate name",
    },
}

#: Refused on a phone only (a trunk is the provider, trusted for these).
UNSAFE_ON_PHONE: Final[Mapping[str, str]] = {
    "trust_id_inbound": "would let a phone claim any caller identity (P-Asserted-Identity) "
    "towards other phones and providers",
}


def option_problem(
    owner: Owner, kind: str, name: str, value: str, known: AsteriskFacts | None = None
) -> str | None:
    """Why option `name` = `value` may not be passed to `owner`'s object `kind`, or None."""
    known = known or facts()
    objects = known.pjsip(kind)
    if objects is None:  # pragma: no cover - every kind of OBJECTS is documented (a test pins it)
        return f"Asterisk has no pjsip object type {kind}"
    option = objects.options.get(name)
    if option is None:
        return f"Asterisk documents no option {name} for a pjsip {kind}"
    typed = TYPED.get((owner, kind), {}).get(name)
    if typed is not None:
        return f"refused: {typed}"
    unsafe = UNSAFE.get(kind, {}).get(name)
    if unsafe is None and owner == "endpoint" and kind == "endpoint":
        unsafe = UNSAFE_ON_PHONE.get(name)
    if unsafe is not None:
        return f"refused: {unsafe}"
    bad = option.bad_value(value)
    return None if bad is None else bad


def _check(
    path: Path, owner: Owner, options: Mapping[str, Mapping[str, str]], known: AsteriskFacts
) -> Iterator[Found]:
    allowed = OBJECTS[owner]
    for kind, values in options.items():
        if kind not in allowed:
            yield (
                (*path, "options", kind),
                f"{owner}s render no pjsip {kind} to add options to (only {', '.join(allowed)})",
            )
            continue
        for name, value in values.items():
            problem = option_problem(owner, kind, name, value, known)
            if problem is not None:
                yield (*path, "options", kind, name), problem


def check(site: Site, known: AsteriskFacts | None = None) -> list[Found]:
    """Every problem of the site's `options`."""
    known = known or facts()
    found: list[Found] = []
    for name, trunk in site.trunks.items():
        found += _check(("trunks", name), "trunk", trunk.options, known)
        if "registration" in trunk.options and trunk.registration is None:
            found.append(
                (("trunks", name, "options", "registration"), "the trunk does not register")
            )
        # Identified by identify, or by default by the hosts given as addresses.
        matches = trunk.identify
        if matches is None:
            matches = tuple(h for h in trunk.hosts if family_of(h) is not None)
        if "identify" in trunk.options and not matches:
            found.append(
                (
                    ("trunks", name, "options", "identify"),
                    "the trunk renders no identify (no identify, no host given as an address)",
                )
            )
    for name, endpoint in site.endpoints.items():
        options = dict(endpoint.options)
        # A phone with auth has an aor and no identify; an identified device the other way.
        absent = "aor" if endpoint.auth is None else "identify"
        if absent in options:
            found.append(
                (("endpoints", name, "options", absent), f"this endpoint renders no {absent}")
            )
            del options[absent]
        found += _check(("endpoints", name), "endpoint", options, known)
    for name, transport in site.transports.items():
        for option, value in transport.options.items():
            problem = option_problem("transport", "transport", option, value, known)
            if problem is not None:
                found.append((("transports", name, "options", option), problem))
    return found
