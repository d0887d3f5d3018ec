"""The site model: what a user writes in YAML, validated field by field by pydantic.

Cross-references (a route to a trunk, a transport's address) are checked in `checks.py`, and
defaults that depend on other parts of the site (default transports, a trunk's transport) are
filled in by `resolve.py`; the `Site` a loader returns has them all set.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from supervisor.site.grammar import (
    CallerName,
    Did,
    Extension,
    Host,
    Int,
    IPv4,
    IPv6,
    Name,
    Network,
    Pattern,
    Prefix,
    SecretKey,
    SipUser,
    Str,
)

Family = Literal["ipv6", "ipv4"]
Protocol = Literal["udp", "tcp"]
Codec = Literal["ulaw", "alaw", "g722", "gsm", "g726", "opus"]
RawFile = Literal[
    "pjsip.conf",
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

Port = Annotated[Int, Field(ge=1, le=65535)]
Codecs = Annotated[tuple[Codec, ...], Field(min_length=1, max_length=8)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Addresses(Model):
    """The pod's own addresses (from the Calico IP pools); at least one."""

    ipv6: IPv6 | None = None
    ipv4: IPv4 | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Addresses:
        if self.ipv6 is None and self.ipv4 is None:
            raise ValueError("give at least one of ipv6 and ipv4")
        return self

    def of(self, family: Family) -> str | None:
        return self.ipv6 if family == "ipv6" else self.ipv4


class Transport(Model):
    """A SIP transport, bound to the site's address of its family (or its wildcard if asked)."""

    family: Family
    protocol: Protocol = "udp"
    port: Port = 5060
    bind: Literal["address", "wildcard"] = "address"


class Registration(Model):
    """Outbound registration of a trunk: expiry and retry intervals in seconds."""

    expiry: Annotated[Int, Field(ge=60, le=86400)] = 300
    retry: Annotated[Int, Field(ge=5, le=3600)] = 60
    forbidden_retry: Annotated[Int, Field(ge=30, le=86400)] = 600


class TrunkAuth(Model):
    """Digest credentials: the password is the value of a key in the Secret, never inline."""

    username: SipUser
    password_secret: SecretKey


class CallerId(Model):
    number: Did
    name: CallerName | None = None


class Trunk(Model):
    """A VoIP provider: hosts, registration, auth, identify-by-IP, codecs, DIDs, caller ID."""

    hosts: Annotated[tuple[Host, ...], Field(min_length=1, max_length=8)]
    port: Port = 5060
    transport: Name | None = None
    family: Family | None = None
    auth: TrunkAuth | None = None
    registration: Registration | None = None
    identify: Annotated[tuple[Network, ...], Field(max_length=MAX_LIST)] | None = None
    codecs: Codecs = DEFAULT_CODECS
    dids: Annotated[tuple[Did, ...], Field(max_length=1000)] = ()
    caller_id: CallerId | None = None
    # Some providers want their account in the From header of calls out, whatever the caller ID.
    from_user: SipUser | None = None
    from_domain: Host | None = None

    @model_validator(mode="after")
    def _registration_needs_auth(self) -> Trunk:
        if self.registration is not None and self.auth is None:
            raise ValueError("registration needs auth (username and password_secret)")
        return self


class EndpointAuth(Model):
    """Digest credentials of a phone; the user name defaults to the endpoint's name."""

    username: SipUser | None = None
    password_secret: SecretKey


class Endpoint(Model):
    """A phone or device: authenticated by a Secret password or identified by its IP address.

    Its SIP transport and RTP are bound to the pod's address of its family (default: IPv6 when
    the pod has an IPv6 address); after loading, `family` and `transport` are always set."""

    auth: EndpointAuth | None = None
    identify: Annotated[tuple[Network, ...], Field(max_length=MAX_LIST)] = ()
    family: Family | None = None
    transport: Name | None = None
    context: Name = DEFAULT_CONTEXT
    codecs: Codecs = DEFAULT_CODECS
    max_contacts: Annotated[Int, Field(ge=1, le=10)] = 1
    qualify: Annotated[Int, Field(ge=0, le=3600)] = 60

    @model_validator(mode="after")
    def _auth_or_identify(self) -> Endpoint:
        if (self.auth is None) == (not self.identify):
            raise ValueError("give exactly one of auth and identify")
        return self


class RingGroup(Model):
    """Endpoints rung together for ring_time seconds, then the fallback target (or hang up)."""

    endpoints: Annotated[tuple[Name, ...], Field(min_length=1, max_length=MAX_LIST)]
    ring_time: Annotated[Int, Field(ge=5, le=600)] = 30
    fallback: Name | None = None


class OutboundRoute(Model):
    """Numbers matching `pattern` go out through `trunk`: strip leading digits, then prepend."""

    pattern: Pattern
    trunk: Name
    strip: Annotated[Int, Field(ge=0, le=20)] = 0
    prepend: Prefix = ""


class Doorbell(Model):
    """Whatever an endpoint in context `doorbell` dials rings this group or endpoint."""

    ring: Name


class Dialplan(Model):
    extensions: Annotated[dict[Extension, Name], Field(max_length=MAX_ENDPOINTS)] = {}
    ring_groups: Annotated[dict[Name, RingGroup], Field(max_length=1000)] = {}
    inbound: Annotated[dict[Did, Name], Field(max_length=1000)] = {}
    outbound: Annotated[tuple[OutboundRoute, ...], Field(max_length=100)] = ()
    doorbell: Doorbell | None = None
    ring_time: Annotated[Int, Field(ge=5, le=600)] = 30


class Site(Model):
    """A whole site. After loading, `transports` is never empty and every trunk has its
    `transport` and `family` set."""

    addresses: Addresses
    transports: Annotated[dict[Name, Transport], Field(max_length=16)] = {}
    trunks: Annotated[dict[Name, Trunk], Field(max_length=MAX_TRUNKS)] = {}
    endpoints: Annotated[dict[Name, Endpoint], Field(max_length=MAX_ENDPOINTS)] = {}
    dialplan: Dialplan = Dialplan()
    user_agent: Annotated[Str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,62}$")] = (
        "asterisk-supervisor"
    )
    raw: Annotated[dict[RawFile, Annotated[Str, Field(max_length=65536)]], Field(max_length=8)] = {}

    def trunk_family(self, name: str) -> Family:
        family = self.trunks[name].family
        assert family is not None, "an unresolved site: use the loader"
        return family

    def endpoint_family(self, name: str) -> Family:
        family = self.endpoints[name].family
        assert family is not None, "an unresolved site: use the loader"
        return family

    def trunk_transport(self, name: str) -> str:
        transport = self.trunks[name].transport
        assert transport is not None, "an unresolved site: use the loader"
        return transport
