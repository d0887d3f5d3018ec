"""Resolving a checked site: the defaults that depend on other parts of it, as a typed value.

`resolve(site)` (after `checks.check(site)` found nothing) fills in the default transports (one
UDP transport per address family), each trunk's family, transport, port, identify and tls, each
endpoint's family and transport, and each voicemail box's number, and returns a `ResolvedSite`:
a `Site` whose `wiring` holds them as non-optional values, so the renderer reads them without
"is it resolved yet" checks. The helpers here are also what the checks use to name the
defaults a site would get.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from supervisor.site.grammar import family_of
from supervisor.site.model import (
    SIP_PORT,
    SIPS_PORT,
    Endpoint,
    Family,
    Site,
    Transport,
    Trunk,
    TrunkTls,
)
from supervisor.site.model_base import MODEL_CONFIG

FAMILIES: tuple[Family, ...] = ("ipv6", "ipv4")


class Unchecked(ValueError):
    """`resolve` was given a site that `checks.check` would refuse (a caller's bug)."""


def default_transports(site: Site) -> dict[str, Transport]:
    """The site's transports, or one UDP transport per family the pod has an address of."""
    if site.transports:
        return dict(site.transports)
    return {
        f"udp{family[-1]}": Transport(family=family)
        for family in FAMILIES
        if site.addresses.of(family) is not None
    }


def first_transport(transports: Mapping[str, Transport], family: Family) -> str | None:
    """The transport a trunk or endpoint of `family` gets by default (UDP first)."""
    for name, transport in transports.items():
        if transport.family == family and transport.protocol == "udp":
            return name
    for name, transport in transports.items():
        if transport.family == family:
            return name
    return None


def trunk_family(trunk: Trunk, transports: Mapping[str, Transport]) -> Family | None:
    """A trunk's family: its transport's, its own, or its first IP host's (None: unknown)."""
    if trunk.transport is not None and trunk.transport in transports:
        return transports[trunk.transport].family
    if trunk.family is not None:
        return trunk.family
    for host in trunk.hosts:
        family = family_of(host)
        if family is not None:
            return "ipv6" if family == "ipv6" else "ipv4"
    return None


def default_family(site: Site) -> Family:
    """An endpoint's family when neither family nor transport is given: IPv6 if the pod has it."""
    return "ipv6" if site.addresses.ipv6 is not None else "ipv4"


def endpoint_family(site: Site, endpoint: Endpoint, transports: Mapping[str, Transport]) -> Family:
    """An endpoint's family: its own, its transport's, or the site's default."""
    if endpoint.family is not None:
        return endpoint.family
    if endpoint.transport is not None and endpoint.transport in transports:
        return transports[endpoint.transport].family
    return default_family(site)


class _Frozen(BaseModel):
    model_config = MODEL_CONFIG


class TrunkWiring(_Frozen):
    """A trunk's resolved family, transport and port."""

    family: Family
    transport: str
    port: int


class EndpointWiring(_Frozen):
    """An endpoint's resolved family and transport."""

    family: Family
    transport: str


class Wiring(_Frozen):
    """What resolution decided, by trunk, by endpoint, and each voicemail box's number."""

    trunks: dict[str, TrunkWiring] = {}
    endpoints: dict[str, EndpointWiring] = {}
    mailboxes: dict[str, str] = {}


class ResolvedSite(Site):
    """A checked site with its defaults filled in (what a loader returns). Its trunks and
    endpoints carry the resolved values too; `wiring` holds them typed as set."""

    wiring: Wiring

    def trunk_family(self, name: str) -> Family:
        return self.wiring.trunks[name].family

    def endpoint_family(self, name: str) -> Family:
        return self.wiring.endpoints[name].family

    def trunk_port(self, name: str) -> int:
        return self.wiring.trunks[name].port

    def trunk_transport(self, name: str) -> str:
        return self.wiring.trunks[name].transport

    def mailbox_number(self, name: str) -> str:
        """The number of endpoint `name`'s voicemail box (explicit or its lowest extension)."""
        return self.wiring.mailboxes[name]

    def mailboxes(self) -> dict[str, str]:
        """Endpoint name -> its box number, for every endpoint with a voicemail box."""
        return dict(self.wiring.mailboxes)


def resolve(site: Site) -> ResolvedSite:
    """The site with defaults that depend on other parts filled in (call after a clean check;
    raises `Unchecked` where the check would have refused it)."""
    transports = default_transports(site)
    trunks: dict[str, Trunk] = {}
    trunk_wiring: dict[str, TrunkWiring] = {}
    for name, trunk in site.trunks.items():
        family = trunk_family(trunk, transports)
        transport = trunk.transport or (first_transport(transports, family) if family else None)
        if family is None or transport is None or transport not in transports:
            raise Unchecked(f"trunk {name}: no family or transport (check the site first)")
        identify = trunk.identify
        if identify is None:
            identify = tuple(h for h in trunk.hosts if family_of(h) is not None)
        tls = transports[transport].protocol == "tls"
        port = trunk.port or (SIPS_PORT if tls else SIP_PORT)
        trunks[name] = trunk.model_copy(
            update={
                "family": family,
                "transport": transport,
                "identify": identify,
                "port": port,
                "tls": (trunk.tls or TrunkTls()) if tls else None,
            }
        )
        trunk_wiring[name] = TrunkWiring(family=family, transport=transport, port=port)
    endpoints: dict[str, Endpoint] = {}
    endpoint_wiring: dict[str, EndpointWiring] = {}
    mailboxes: dict[str, str] = {}
    for name, endpoint in site.endpoints.items():
        family = endpoint_family(site, endpoint, transports)
        transport = endpoint.transport or first_transport(transports, family)
        if transport is None:
            raise Unchecked(f"endpoint {name}: no {family} transport (check the site first)")
        endpoints[name] = endpoint.model_copy(update={"family": family, "transport": transport})
        endpoint_wiring[name] = EndpointWiring(family=family, transport=transport)
        if endpoint.voicemail is not None:
            number = endpoint.voicemail.number or site.default_mailbox_number(name)
            if number is None:
                raise Unchecked(f"endpoint {name}: no voicemail box number (check the site first)")
            mailboxes[name] = number
    return ResolvedSite.model_construct(
        **{
            **{key: getattr(site, key) for key in Site.model_fields},
            "transports": transports,
            "trunks": trunks,
            "endpoints": endpoints,
            "wiring": Wiring.model_construct(
                trunks=trunk_wiring, endpoints=endpoint_wiring, mailboxes=mailboxes
            ),
        }
    )
