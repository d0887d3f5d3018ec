"""The site model: what a user writes in YAML, validated field by field by pydantic.

Cross-references (a route to a trunk, a transport's address) are checked in `checks.py`, and
defaults that depend on other parts of the site (default transports, a trunk's transport) are
filled in by `resolve.py`; the `Site` a loader returns has them all set.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from supervisor.asterisk_facts import facts
from supervisor.site.features import PhoneFeatures
from supervisor.site.flows import (
    Announcement,
    CountryCode,
    HoldClass,
    Menu,
    Screening,
    Target,
    TimeCondition,
)
from supervisor.site.grammar import (
    DID_RE,
    NAME_RE,
    Bool,
    CallerName,
    Did,
    Email,
    Extension,
    Host,
    IdentifyNetwork,
    Int,
    IPv4,
    IPv6,
    Name,
    Network,
    OptionName,
    OptionValue,
    Pattern,
    Prefix,
    SecretKey,
    SipUser,
    Str,
)
from supervisor.site.model_base import MODEL_CONFIG

Family = Literal["ipv6", "ipv4"]
Protocol = Literal["udp", "tcp", "tls"]
TlsVersion = Literal["1.2", "1.3"]
# TLS 1.2 suites with forward secrecy and authenticated encryption only (what current guidance,
# e.g. Mozilla's "intermediate" profile, keeps); TLS 1.3 suites are always AEAD and not listed.
Cipher = Literal[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
]
# Every suite the model allows is a default: the list exists to let a site narrow it.
DEFAULT_CIPHERS: tuple[Cipher, ...] = get_args(Cipher)
SIP_PORT = 5060
SIPS_PORT = 5061
# Audio codecs the image transcodes (its codec modules: render/core.py CODEC_MODULES), then codecs
# passed through between two ends that both offer them: G.729 (the image has no translator for
# it) and video.
Codec = Literal[
    "ulaw", "alaw", "g722", "gsm", "g726", "opus", "speex", "g729", "h264", "h263", "vp8", "vp9"
]
RawFile = Literal[
    "pjsip.conf",
    "musiconhold.conf",
    "extensions.conf",
    "rtp.conf",
    "features.conf",
    "indications.conf",
    "udptl.conf",
    "ccss.conf",
    "acl.conf",
]

MAX_ENDPOINTS = 10_000
MAX_TRUNKS = 200
MAX_LIST = 64
DEFAULT_CODECS: tuple[Codec, ...] = ("alaw", "ulaw")
DEFAULT_CONTEXT = "internal"
# Contexts the renderer always writes; endpoints may also name contexts defined in raw snippets.
BUILTIN_CONTEXTS = ("internal", "local", "doorbell")


def _did(value: str) -> str:
    if not DID_RE.fullmatch(value):
        raise ValueError(
            f"{_shown(value)} is not a phone number (digits, optionally a leading '+') or any"
        )
    return value


#: An inbound route's key: a DID, or `any` for whatever else a trunk sends.
ANY_NUMBER = "any"
InboundNumber = Annotated[Str, AfterValidator(lambda v: v if v == ANY_NUMBER else _did(v))]
MAX_FLOWS = 1000
Port = Annotated[Int, Field(ge=1, le=65535)]
# A module file name as in modules.conf, with or without `.so` (checked against the image).
ModuleName = Annotated[Str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}(\.so)?$")]
Codecs = Annotated[tuple[Codec, ...], Field(min_length=1, max_length=8)]
#: pjsip options passed through to one object (checked by site/options.py).
PjsipOptions = Annotated[dict[OptionName, OptionValue], Field(max_length=64)]


class Model(BaseModel):
    model_config = MODEL_CONFIG


class Addresses(Model):
    """The pod's own addresses (from the Calico IP pools); at least one."""

    ipv6: IPv6 | None = None
    """The pod's IPv6 /128 from the Calico pool (cni.projectcalico.org/ipv6pools)."""
    ipv4: IPv4 | None = None
    """The pod's IPv4 /32 from the Calico pool, for IPv4-only devices such as a doorbell."""

    @model_validator(mode="after")
    def _at_least_one(self) -> Addresses:
        if self.ipv6 is None and self.ipv4 is None:
            raise ValueError("give at least one of ipv6 and ipv4")
        return self

    def of(self, family: Family) -> str | None:
        return self.ipv6 if family == "ipv6" else self.ipv4


class TransportTls(Model):
    """A tls transport's certificate and key: keys of the mounted Secret (by default the names
    cert-manager writes). They are checked before use (a pair, valid now) and rotated live."""

    cert_secret: SecretKey = "tls.crt"
    """The Secret key holding the certificate (PEM, the server's first, then its chain)."""
    key_secret: SecretKey = "tls.key"
    """The Secret key holding its private key (PEM, unencrypted)."""
    ca_secret: SecretKey | None = "ca.crt"
    """A Secret key with CA certificates trusted for peers on this transport, used when the
    Secret has it (cert-manager writes ca.crt for CA issuers); null: never."""
    min_version: TlsVersion = "1.2"
    """Lowest TLS version accepted: 1.2 (1.2 and 1.3) or 1.3 (1.3 only)."""
    ciphers: Annotated[tuple[Cipher, ...], Field(min_length=1, max_length=6)] = DEFAULT_CIPHERS
    """TLS 1.2 cipher suites, in order of preference (forward-secret AEAD suites only)."""


class Transport(Model):
    """A SIP transport, bound to the site's address of its family (or its wildcard if asked)."""

    family: Family
    """ipv6 or ipv4: the transport binds to the site's address of this family."""
    protocol: Protocol = "udp"
    """udp, tcp or tls."""
    port: Port = SIP_PORT
    """SIP port (default 5060; 5061 for tls)."""
    bind: Literal["address", "wildcard"] = "address"
    """address (the pod's own, the default) or wildcard (:: or 0.0.0.0)."""
    tls: TransportTls | None = None
    """Certificate, key and TLS settings of a tls transport (default: cert-manager's keys)."""
    options: PjsipOptions = {}
    """More pjsip transport options (option: value), checked against Asterisk's documentation;
    options a field sets and ones that would undo a guarantee are refused with the reason."""

    @model_validator(mode="before")
    @classmethod
    def _tls_defaults(cls, data: object) -> object:
        # The defaults of a tls transport differ: port 5061 and the Secret's tls.crt/tls.key.
        if isinstance(data, dict) and data.get("protocol") == "tls":
            data = dict(data)
            data.setdefault("port", SIPS_PORT)
            if data.get("tls") is None:
                data["tls"] = {}
        return data


class Registration(Model):
    """Outbound registration of a trunk: expiry and retry intervals in seconds."""

    expiry: Annotated[Int, Field(ge=60, le=86400)] = 300
    """Seconds the registration is requested for."""
    retry: Annotated[Int, Field(ge=5, le=3600)] = 60
    """Seconds between attempts after a failure."""
    forbidden_retry: Annotated[Int, Field(ge=30, le=86400)] = 600
    """Seconds to wait after the provider answered 403 Forbidden."""


class TrunkAuth(Model):
    """Digest credentials: the password is the value of a key in the Secret, never inline."""

    username: SipUser
    """The account's user name at the provider."""
    password_secret: SecretKey
    """The key in the mounted Secret that holds the password."""


class TrunkTls(Model):
    """How a trunk on a tls transport checks the provider's certificate."""

    verify: Bool = True
    """Verify the provider's certificate and host name (default yes): against ca_secret, or the
    system's CA store. Trunks sharing a transport must agree (Asterisk checks per transport)."""
    ca_secret: SecretKey | None = None
    """A Secret key with the provider's CA certificate(s) (PEM); default: the system store."""


class MediaEncryption(Model):
    """SRTP for the calls' media: sdes (keys in the SDP, so only over tls signalling) or dtls
    (keys negotiated on the media path; phones and WebRTC, not providers)."""

    method: Literal["sdes", "dtls"]
    """sdes or dtls."""
    required: Bool = True
    """true: calls without SRTP are refused; false: SRTP offered, plain RTP accepted."""


class CallerId(Model):
    number: Did
    """Caller number shown on calls out through the trunk (E.164)."""
    name: CallerName | None = None
    """Caller name, where the provider passes it on."""


class Trunk(Model):
    """A VoIP provider: hosts, registration, auth, identify-by-IP, codecs, DIDs, caller ID."""

    hosts: Annotated[tuple[Host, ...], Field(min_length=1, max_length=8)]
    """The provider's SIP servers: IP literals or names; the first is the registrar."""
    port: Port | None = None
    """The provider's SIP port (default 5060; 5061 over a tls transport)."""
    transport: Name | None = None
    """Which transport to use (default: the first of the trunk's family)."""
    tls: TrunkTls | None = None
    """How the provider's certificate is verified (trunks on a tls transport; default: verify
    against the system's CA store)."""
    media_encryption: MediaEncryption | None = None
    """SRTP for the trunk's calls (sdes; needs a tls transport). Default: plain RTP."""
    family: Family | None = None
    """ipv6 or ipv4 (default: the family of the hosts, or ipv6)."""
    auth: TrunkAuth | None = None
    """Digest credentials for registration and calls out."""
    registration: Registration | None = None
    """Register outbound (needs auth)."""
    identify: Annotated[tuple[IdentifyNetwork, ...], Field(max_length=MAX_LIST)] | None = None
    """Addresses or networks whose calls are this trunk's (default: the hosts given as IPs)."""
    codecs: Codecs = DEFAULT_CODECS
    """Codecs offered and accepted, in order of preference."""
    dids: Annotated[tuple[Did, ...], Field(max_length=1000)] = ()
    """Numbers the provider routes to this site (route them in dialplan.inbound)."""
    caller_id: CallerId | None = None
    """Caller ID set on calls out through this trunk."""
    country_code: CountryCode | None = None
    """The trunk's country calling code: callers' numbers in national form (0...) become
    +CC..., in international form (00...) +...; before screening, routing and display (default:
    numbers are taken as sent)."""
    # Some providers want their account in the From header of calls out, whatever the caller ID.
    from_user: SipUser | None = None
    from_domain: Host | None = None
    options: Annotated[dict[Name, PjsipOptions], Field(max_length=4)] = {}
    """More pjsip options by object (endpoint, aor, registration, identify: option: value),
    checked against Asterisk's documentation; options a field sets and ones that would undo a
    guarantee are refused with the reason."""

    @model_validator(mode="after")
    def _registration_needs_auth(self) -> Trunk:
        if self.registration is not None and self.auth is None:
            raise ValueError("registration needs auth (username and password_secret)")
        return self


def _documented_dtmf_mode(value: str) -> str:
    option = facts().pjsip("endpoint")
    fact = option.options.get("dtmf_mode") if option is not None else None
    if fact is None or value not in fact.values:
        known = ", ".join(fact.values) if fact is not None else "none"
        raise ValueError(f"{value!r} is not a DTMF mode of this Asterisk ({known})")
    return value


#: How the phone sends DTMF: the values Asterisk documents for pjsip `dtmf_mode`.
DtmfMode = Annotated[Str, AfterValidator(_documented_dtmf_mode)]
#: A sound language (e.g. en, de, fr_CA): the prompts Asterisk plays for the phone.
Language = Annotated[Str, Field(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]{2,8})?$")]


class PhoneCallerId(Model):
    """What the phone's calls show to the callee (inside the site; a trunk's caller_id is what
    calls out show)."""

    name: CallerName | None = None
    """Caller name (default: none, the phone's own)."""
    number: Did | None = None
    """Caller number (default: the phone's lowest extension)."""


class PbxNat(Model):
    """The PBX itself behind a NAT router, an explicit opt-in: peers outside local_networks are
    given the router's external address in SIP and SDP (the router forwards SIP and the RTP
    range to the pod). The pod still binds, and the supervisor still checks, its own
    addresses; the external address is not verified from inside."""

    external_ipv6: IPv6 | None = None
    """The router's external IPv6 address (for the site's ipv6 transports)."""
    external_ipv4: IPv4 | None = None
    """The router's external IPv4 address (for the site's ipv4 transports)."""
    local_networks: Annotated[tuple[Network, ...], Field(max_length=MAX_LIST)] = ()
    """Networks reached without the router (they get the pod's own address)."""

    @model_validator(mode="after")
    def _external(self) -> PbxNat:
        if self.external_ipv6 is None and self.external_ipv4 is None:
            raise ValueError("give external_ipv6 or external_ipv4")
        return self

    def external(self, family: Family) -> str | None:
        return self.external_ipv6 if family == "ipv6" else self.external_ipv4


class Nat(Model):
    """NAT: phones behind home or office routers, and (opt-in) the PBX itself behind one."""

    phones: Bool = False
    """Default of every endpoint's nat (phones behind home or office routers)."""
    pbx: PbxNat | None = None
    """The PBX behind a NAT router (default: none, the pod's addresses are routed)."""


#: The RTP ports the image and its NetworkPolicy open (rtp.conf's range lies inside them).
RTP_PORTS = (10000, 20000)


class Rtp(Model):
    """The UDP ports Asterisk takes for media, inside the image's 10000-20000 (some providers
    accept only a narrow range). Each call takes two ports per leg (RTP and RTCP)."""

    start: Annotated[Int, Field(ge=RTP_PORTS[0], le=RTP_PORTS[1])] = RTP_PORTS[0]
    """First port (even: RTP takes even ports, RTCP the next odd one)."""
    end: Annotated[Int, Field(ge=RTP_PORTS[0], le=RTP_PORTS[1])] = RTP_PORTS[1]
    """Last port."""

    @model_validator(mode="after")
    def _range(self) -> Rtp:
        if self.start % 2:
            raise ValueError(f"start {self.start} is odd: RTP takes even ports")
        if self.end - self.start < 3:
            raise ValueError("the range must hold at least one call leg (4 ports)")
        return self


class EndpointAuth(Model):
    """Digest credentials of a phone; the user name defaults to the endpoint's name."""

    username: SipUser | None = None
    """User name the phone authenticates with (default: the endpoint's name)."""
    password_secret: SecretKey
    """The key in the mounted Secret that holds the password."""


class Mailbox(Model):
    """A voicemail box of an endpoint. Its PIN is the value of a key in the Secret (4 to 12
    digits), never inline. Messages live in Asterisk's spool, on the persistent volume."""

    pin_secret: SecretKey
    """The key in the mounted Secret that holds the box's PIN (4 to 12 digits)."""
    number: Extension | None = None
    """The digits the box is known by at the voicemail-access extension (default: the lowest
    extension number, shorter first, that rings this endpoint directly)."""
    email: Email | None = None
    """Each new message is e-mailed here, with its WAV attached, when `voicemail.email` names
    a relay (docs/mail.md); without a relay the address is written nowhere."""


class Endpoint(Model):
    """A phone or device: authenticated by a Secret password or identified by its IP address.

    Its SIP transport and RTP are bound to the pod's address of its family (default: IPv6 when
    the pod has an IPv6 address); after loading, `family` and `transport` are always set."""

    auth: EndpointAuth | None = None
    """Digest credentials: the phone registers with them (exclusive with identify)."""
    identify: Annotated[tuple[IdentifyNetwork, ...], Field(max_length=MAX_LIST)] = ()
    """Addresses or networks that identify the device without a password (e.g. a doorbell)."""
    family: Family | None = None
    """ipv6 or ipv4 (default: ipv6 when the pod has an IPv6 address)."""
    transport: Name | None = None
    """Which transport (default: the first of the endpoint's family)."""
    context: Name = DEFAULT_CONTEXT
    """Dialplan context of its calls: internal, local, doorbell or one from a raw snippet."""
    codecs: Codecs = DEFAULT_CODECS
    """Codecs, in order of preference."""
    max_contacts: Annotated[Int, Field(ge=1, le=10)] = 1
    """How many devices may register this account at once."""
    qualify: Annotated[Int, Field(ge=0, le=3600)] = 60
    """Seconds between OPTIONS reachability checks (0: off)."""
    media_encryption: MediaEncryption | None = None
    """SRTP for the phone's calls (sdes needs a tls transport; dtls any). Default: plain RTP."""
    voicemail: Mailbox | None = None
    """A voicemail box: unanswered or busy calls to the endpoint leave a message there, and
    its phones get message-waiting notifications (needs auth)."""
    caller_id: PhoneCallerId | None = None
    """Caller ID of the phone's calls (name, number)."""
    dtmf_mode: DtmfMode = "rfc4733"
    """How keypad digits are sent: rfc4733 (RTP events, the default), info, inband, auto,
    auto_info (Asterisk's documented values)."""
    language: Language | None = None
    """Language of the prompts played to the phone (default: Asterisk's, en)."""
    music_on_hold: Name | None = None
    """The music-on-hold class the other party hears while this phone holds the call (a class
    of `music_on_hold`, or default)."""
    direct_media: Bool = False
    """Let media flow straight between two phones that both allow it (and reach each other)
    once a call is up; default: through the pod."""
    transfer: Bool = True
    """The phone's Transfer key works (SIP REFER: blind and attended)."""
    pickup_groups: Annotated[tuple[Name, ...], Field(max_length=MAX_LIST)] = ()
    """Call pickup: the phone can answer, with dialplan.pickup, a call ringing any phone that
    shares one of these groups."""
    call_limit: Annotated[Int, Field(ge=1, le=86400)] | None = None
    """Longest call the device may make, in seconds from the call's start (ringing included):
    Asterisk then hangs up (its TIMEOUT(absolute)). Calls it answers are not limited; a call it
    transfers is (the transfer runs from its context). Default: no limit."""
    nat: Bool | None = None
    """The phone is behind NAT: SIP goes back where its requests came from (rewrite_contact,
    force_rport), media to where its RTP comes from (rtp_symmetric), and qualify keeps its
    router's mapping open (default: nat.phones)."""
    options: Annotated[dict[Name, PjsipOptions], Field(max_length=4)] = {}
    """More pjsip options by object (endpoint, aor: option: value), checked against Asterisk's
    documentation; options a field sets and ones that would undo a guarantee are refused with
    the reason."""

    @model_validator(mode="after")
    def _auth_or_identify(self) -> Endpoint:
        if (self.auth is None) == (not self.identify):
            raise ValueError("give exactly one of auth and identify")
        return self


class RingGroup(Model):
    """Endpoints rung together for ring_time seconds, then the fallback target (or hang up)."""

    endpoints: Annotated[tuple[Name, ...], Field(min_length=1, max_length=MAX_LIST)]
    """Endpoints rung at the same time."""
    ring_time: Annotated[Int, Field(ge=5, le=600)] = 30
    """Seconds to ring before the fallback."""
    fallback: Name | None = None
    """A ring group or endpoint tried when nobody answers (default: hang up)."""
    voicemail: Name | None = None
    """An endpoint whose voicemail box takes the message when nobody answers or all are busy
    (instead of a fallback; default: none, hang up)."""


def extension_order(number: str) -> tuple[int, str]:
    """Extensions in dialling order: shorter first, so 11 comes before 100."""
    return (len(number), number)


# extensions mapping id -> (that mapping, target -> lowest extension). The mapping is held, so its
# id cannot be reused while cached; a few entries cover the live and the candidate site.
_LOWEST: dict[int, tuple[object, dict[str, str]]] = {}
_LOWEST_LOCK = threading.Lock()


def lowest_extensions(extensions: Mapping[str, ExtensionRoute]) -> dict[str, str]:
    """Target name -> the lowest extension number ringing it: one linear pass per extensions
    mapping (renderer and checks ask once per box, so a per-call scan would be quadratic)."""
    with _LOWEST_LOCK:  # the renderer runs in worker threads
        hit = _LOWEST.get(id(extensions))
        if hit is not None and hit[0] is extensions:
            return hit[1]
    lowest: dict[str, str] = {}
    for number, route in extensions.items():
        current = lowest.get(route.ring)
        if current is None or extension_order(number) < extension_order(current):
            lowest[route.ring] = number
    with _LOWEST_LOCK:
        if len(_LOWEST) >= 8:
            _LOWEST.pop(next(iter(_LOWEST)))
        _LOWEST[id(extensions)] = (extensions, lowest)
    return lowest


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _route_shorthand(value: object) -> object:
    """`"11": desk` is short for `"11": {ring: desk}`; a bad shorthand is reported at the
    extension's own key (the user wrote no `ring`)."""
    if isinstance(value, str):
        if not NAME_RE.fullmatch(value) and not value.startswith(("voicemail:", "hangup")):
            raise ValueError(
                f"{_shown(value)} is not a name (letters, digits, '_', '.', '-'; at most 40)"
            )
        return {"ring": value}
    if not isinstance(value, dict | ExtensionRoute):
        raise ValueError(
            "must be an endpoint or ring group name, or a mapping {ring: NAME, voicemail: false}, "
            f"not {_shown(value)}"
        )
    return value


class ExtensionRoute(Model):
    """What an internal extension rings; written as just the name, or as a mapping to turn the
    voicemail fallback off for this extension."""

    ring: Target
    """Where the extension leads: an endpoint or ring group, or any other target (a menu, time
    condition, announcement, voicemail:ENDPOINT, hangup[:CAUSE])."""
    voicemail: Bool = True
    """On no answer or busy, leave a message in the target's box (an endpoint's own, a ring
    group's `voicemail`), if it has one."""


Route = Annotated[ExtensionRoute, BeforeValidator(_route_shorthand)]


class OutboundRoute(Model):
    """Numbers matching `pattern` go out through `trunk`: strip leading digits, then prepend."""

    pattern: Pattern
    """An Asterisk dial pattern, e.g. _0ZX. (X any digit, Z 1-9, N 2-9, . one or more)."""
    trunk: Name
    """The trunk the call goes out through."""
    strip: Annotated[Int, Field(ge=0, le=20)] = 0
    """Leading digits removed from the dialled number."""
    prepend: Prefix = ""
    """Digits (or +) put in front after stripping."""


class Doorbell(Model):
    """Whatever an endpoint in context `doorbell` dials rings this group or endpoint."""

    ring: Name
    """A ring group or endpoint."""


class Dialplan(Model):
    extensions: Annotated[dict[Extension, Route], Field(max_length=MAX_ENDPOINTS)] = {}
    """Internal extension number -> endpoint or ring group (or {ring: name, voicemail: false})."""
    ring_groups: Annotated[dict[Name, RingGroup], Field(max_length=1000)] = {}
    """Named groups of endpoints rung together."""
    inbound: Annotated[dict[InboundNumber, Target], Field(max_length=1000)] = {}
    """A trunk's DID (or `any`: every number a trunk sends that no other entry names, such as
    an account name or `s`) -> a target: an endpoint, ring group, menu, time condition,
    announcement, voicemail:ENDPOINT or hangup[:CAUSE]."""
    outbound: Annotated[tuple[OutboundRoute, ...], Field(max_length=100)] = ()
    """Outbound routes, first match wins."""
    doorbell: Doorbell | None = None
    """What the doorbell context rings."""
    menus: Annotated[dict[Name, Menu], Field(max_length=MAX_FLOWS)] = {}
    """Auto-attendants by name (targets of inbound numbers, extensions and other flows)."""
    time_conditions: Annotated[dict[Name, TimeCondition], Field(max_length=MAX_FLOWS)] = {}
    """Office hours, holidays and night mode by name."""
    announcements: Annotated[dict[Name, Announcement], Field(max_length=MAX_FLOWS)] = {}
    """Prompts played before going on, by name."""
    screening: Screening | None = None
    """Anonymous-caller rejection and the caller blocklist, for calls from every trunk."""
    ring_time: Annotated[Int, Field(ge=5, le=600)] = 30
    """Seconds an extension rings an endpoint."""
    pickup: Extension | None = "*8"
    """Dialled from a phone: answers a call ringing a phone of its pickup_groups (null: none)."""
    features: PhoneFeatures | None = PhoneFeatures()
    """Do-not-disturb and call-forwarding codes phones dial for themselves (docs/features.md;
    null: none, and calls ring phones as written)."""


MailSecurity = Literal["starttls", "tls"]
SMTP_SUBMISSION_PORT = 587
SMTPS_PORT = 465


class VoicemailEmail(Model):
    """The SMTP relay new messages are e-mailed through (docs/mail.md). The connection is always
    encrypted and the relay's certificate verified (against the system CAs, or `ca_secret`)."""

    host: Host
    """The relay's DNS name or address (the name its certificate is checked against)."""
    port: Port | None = None
    """Its TCP port (default: 587 for starttls, 465 for tls)."""
    security: MailSecurity = "starttls"
    """starttls (submission, port 587) or tls (implicit TLS, port 465)."""
    sender: Email
    """The From address of the e-mails (and the envelope sender)."""
    username_secret: SecretKey | None = None
    """The Secret key holding the user name to log in with (AUTH); with password_secret."""
    password_secret: SecretKey | None = None
    """The Secret key holding the password to log in with."""
    ca_secret: SecretKey | None = None
    """A Secret key holding the PEM CA bundle that signs the relay's certificate (default: the
    system's CAs)."""
    max_queued: Annotated[Int, Field(ge=1, le=10_000)] = 500
    """Messages kept on the spool volume while the relay is unreachable; more are refused
    (logged and counted) rather than filling the volume."""
    max_message_bytes: Annotated[Int, Field(ge=100_000, le=50_000_000)] = 10_000_000
    """A larger e-mail is refused (a 180 s WAV is about 3.9 MB once encoded)."""

    @model_validator(mode="after")
    def _login_pair(self) -> VoicemailEmail:
        if (self.username_secret is None) != (self.password_secret is None):
            raise ValueError("username_secret and password_secret go together")
        return self

    @property
    def relay_port(self) -> int:
        if self.port is not None:
            return self.port
        return SMTPS_PORT if self.security == "tls" else SMTP_SUBMISSION_PORT


class Voicemail(Model):
    """Voicemail for the whole site: the access extensions and the limits of every box."""

    access: Extension = "*97"
    """Dialled from a phone: its own box (asks the box's PIN)."""
    access_any: Extension = "*98"
    """Dialled from a phone: any box (asks the box number, then that box's PIN)."""
    max_message_s: Annotated[Int, Field(ge=10, le=3600)] = 180
    """Longest message, in seconds."""
    min_message_s: Annotated[Int, Field(ge=0, le=10)] = 2
    """Shorter messages are discarded (a caller hanging up at the beep)."""
    max_greeting_s: Annotated[Int, Field(ge=5, le=300)] = 60
    """Longest greeting a box owner may record, in seconds."""
    max_messages: Annotated[Int, Field(ge=1, le=9999)] = 100
    """Messages a box holds; a full box tells callers so and takes nothing more."""
    max_logins: Annotated[Int, Field(ge=1, le=10)] = 3
    """Wrong PINs before the access extension hangs up."""
    email: VoicemailEmail | None = None
    """E-mail each new message (WAV attached) to its box's `email` through this relay."""

    @model_validator(mode="after")
    def _different_access(self) -> Voicemail:
        if self.access == self.access_any:
            raise ValueError("access and access_any must be different extensions")
        return self


class Security(Model):
    """Blocking of password guessers and scanners: a source whose failures (Asterisk's security
    events: unknown account, wrong password, ACL refusals, malformed requests) reach
    `max_failures` within `window` seconds is denied by a res_pjsip ACL for `ban_time` seconds.
    Trunk hosts, identified devices, the pod's own addresses and `allow` are never blocked."""

    block: Bool = True
    """Block offending sources (false: only count and report them)."""
    max_failures: Annotated[Int, Field(ge=1, le=10000)] = 5
    """Failures from one source within `window` that block it."""
    window: Annotated[Int, Field(ge=1, le=86400)] = 600
    """Seconds over which failures are counted."""
    ban_time: Annotated[Int, Field(ge=1, le=2592000)] = 3600
    """Seconds a blocked source stays blocked."""
    max_bans: Annotated[Int, Field(ge=1, le=1_000_000)] = 100_000
    """At most this many prefixes are blocked at once; when full, a new block replaces the
    oldest plain one (escalated prefixes go last), logged and counted."""
    ipv6_prefix: Annotated[Int, Field(ge=48, le=128)] = 64
    """IPv6 sources are counted and blocked by this prefix (one host usually holds a /64 and
    can use a new address for every request); 128: per address."""
    allow: Annotated[tuple[Network, ...], Field(max_length=MAX_LIST)] = ()
    """Addresses or networks never blocked (e.g. an office NAT with several phones)."""


class RecordsPostgresql(Model):
    """A PostgreSQL server that also receives Asterisk's call events (cel_pgsql), for users who
    run one (e.g. for Grafana's recent-calls table, docs/records.md). The SQLite record on the
    spool volume is kept either way: it is what the history and the counts read."""

    host: Host
    """The server's address or DNS name."""
    port: Port = 5432
    """Its TCP port."""
    database: Name = "asterisk"
    """The database holding the table."""
    user: Name = "asterisk"
    """The user Asterisk logs in as (it needs INSERT on the table)."""
    password_secret: SecretKey
    """The Secret key holding that user's password."""
    table: Name = "cel"
    """The table (created beforehand: docs/records.md gives its definition)."""


class Records(Model):
    """The call record (docs/records.md): how long the history keeps calls, and an optional
    PostgreSQL copy of the call events."""

    keep_days: Annotated[Int, Field(ge=1, le=3650)] = 400
    """Calls older than this many days are deleted from the history."""
    keep_calls: Annotated[Int, Field(ge=1000, le=10_000_000)] = 1_000_000
    """At most this many calls are kept (the oldest go first)."""
    postgresql: RecordsPostgresql | None = None
    """Also send every call event to this PostgreSQL server."""


class Site(Model):
    """A whole site as written. The loader returns it resolved (`resolve.ResolvedSite`):
    `transports` never empty, every trunk's `transport` and `family` set."""

    addresses: Addresses
    """The pod's expected addresses; transports bind to them and the supervisor checks them."""
    transports: Annotated[dict[Name, Transport], Field(max_length=16)] = {}
    """SIP transports by name (default: udp6 and/or udp4 on port 5060)."""
    trunks: Annotated[dict[Name, Trunk], Field(max_length=MAX_TRUNKS)] = {}
    """VoIP providers by name."""
    endpoints: Annotated[dict[Name, Endpoint], Field(max_length=MAX_ENDPOINTS)] = {}
    """Phones and devices by name."""
    dialplan: Dialplan = Dialplan()
    """Extensions, ring groups, inbound and outbound routes, the doorbell."""
    voicemail: Voicemail = Voicemail()
    """Voicemail access extensions and limits (the boxes are per endpoint)."""
    user_agent: Annotated[Str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,62}$")] = (
        "asterisk-supervisor"
    )
    """The User-Agent Asterisk sends."""
    security: Security = Security()
    """Blocking of password guessers and scanners (on by default)."""
    records: Records = Records()
    """The call record: retention, and an optional PostgreSQL copy (docs/records.md)."""
    raw: Annotated[dict[RawFile, Annotated[Str, Field(max_length=65536)]], Field(max_length=8)] = {}
    """Escape hatch: text appended to the named file, kept apart and checked: its syntax, every
    dialplan application and function it uses (loaded from the module that provides it), and
    every pjsip option against what Asterisk documents for the section's type."""
    nat: Nat = Nat()
    """Phones behind NAT, and (opt-in) the PBX itself behind a NAT router."""
    rtp: Rtp = Rtp()
    """The media port range (rtp.conf)."""
    music_on_hold: Annotated[dict[Name, HoldClass], Field(max_length=MAX_LIST)] = {}
    """Music-on-hold classes from the site's audio files (docs/audio.md); a class named
    default replaces the built-in beep."""
    modules: Annotated[tuple[ModuleName, ...], Field(max_length=MAX_LIST)] = ()
    """Asterisk modules to load beyond what the site needs (e.g. app_voicemail_odbc where
    several modules provide an application); each must exist in the image. See
    docs/configuration.md, "Modules"."""

    def default_mailbox_number(self, name: str) -> str | None:
        """The box number endpoint `name` gets without `number`: its lowest extension."""
        return lowest_extensions(self.dialplan.extensions).get(name)

    def featured_phones(self) -> list[str]:
        """The endpoints whose calls honour do-not-disturb and forwards (site/features.py):
        phones that authenticate (only they can set the state), when any feature code is on."""
        return [name for name in self.endpoints if self.featured(name)]

    def featured(self, name: str) -> bool:
        """Whether endpoint `name`'s calls honour do-not-disturb and forwards."""
        features = self.dialplan.features
        if features is None or not features.any_code():
            return False
        endpoint = self.endpoints.get(name)
        return endpoint is not None and endpoint.auth is not None
