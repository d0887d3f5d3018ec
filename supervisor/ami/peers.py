"""Who Asterisk talks to, as seen through AMI: outbound registrations, endpoints and their
contacts (reachability, round-trip time). Fed by `AsteriskState` (events and re-sync lists in
stream order); metrics and checks read it at scrape time.

Idempotent per key (a registration by name, a contact by (AOR, URI)): a re-sync list replaces
what it covers, so a reconnect neither loses nor doubles anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from supervisor.ami.fields import Event, rtt

#: asterisk_pjsip_outbound_registration_status values (res_prometheus: 0/1/2).
UNREGISTERED, REGISTERED, REJECTED = 0, 1, 2
_REGISTRATION_STATUS: Final = {
    "Registered": REGISTERED,
    "Unregistered": UNREGISTERED,
    "Rejected": REJECTED,
    # PJSIP never sends Failed (ami-facts), other channel drivers do: same meaning as Rejected.
    "Failed": REJECTED,
}

#: Contact states, normalised: Asterisk's code emits long and short labels (ContactStatus events
#: vs PJSIPShowContacts) and its docs name others; anything else is "unknown".
_CONTACT_STATUS: Final = {
    "Reachable": "reachable",
    "Avail": "reachable",
    "Unreachable": "unreachable",
    "Unavail": "unreachable",
    "Unavailable": "unreachable",
}


@dataclass(slots=True)
class Registration:
    name: str
    client_uri: str
    server_uri: str
    status: int = UNREGISTERED
    changes: int = 0
    last_success: float | None = None


@dataclass(slots=True)
class Contact:
    endpoint: str
    status: str
    rtt: float | None


class Peers:
    """Registrations, endpoints and contacts (see the module docstring)."""

    def __init__(self) -> None:
        self.registrations: dict[str, Registration] = {}
        self._registration_by_uri: dict[str, str] = {}
        self.endpoints: set[str] = set()
        self.contacts: dict[tuple[str, str], Contact] = {}
        self._by_endpoint: dict[str, set[tuple[str, str]]] = {}
        self._listed_contacts: dict[tuple[str, str], str] = {}
        self._health: dict[str, tuple[int, float | None]] = {}

    # ---- registrations ---------------------------------------------------------------------

    def registry(self, msg: Event, now: float) -> None:
        name = self._registration_by_uri.get(msg.get("Username", ""))
        if name is None:
            return  # not (yet) in a snapshot: the next re-sync brings it
        reg = self.registrations[name]
        status = _REGISTRATION_STATUS.get(msg.get("Status", ""), UNREGISTERED)
        if status != reg.status:
            reg.changes += 1
            reg.status = status
        if status == REGISTERED:
            # Sent on every successful REGISTER, refreshes included.
            reg.last_success = now

    def snap_registrations(self, items: Iterable[Event], now: float) -> None:
        seen: dict[str, Registration] = {}
        for item in items:
            if item.get("Event") != "OutboundRegistrationDetail":
                continue
            name = item.get("ObjectName", "")
            if not name:
                continue
            status = _REGISTRATION_STATUS.get(item.get("Status", ""), UNREGISTERED)
            reg = self.registrations.get(name)
            if reg is None:
                reg = Registration(name, item.get("ClientUri", ""), item.get("ServerUri", ""))
                reg.status = status
                if status == REGISTERED:
                    reg.last_success = now  # registered already: the best we know
            else:
                reg.client_uri = item.get("ClientUri", reg.client_uri)
                reg.server_uri = item.get("ServerUri", reg.server_uri)
                if status != reg.status:
                    reg.changes += 1
                    reg.status = status
                    if status == REGISTERED:
                        reg.last_success = now
            seen[name] = reg
        self.registrations = seen
        self._registration_by_uri = {r.client_uri: r.name for r in seen.values()}

    # ---- endpoints and contacts ----------------------------------------------------------------

    def snap_endpoints(self, items: Iterable[Event], now: float) -> None:
        endpoints: set[str] = set()
        existing: dict[tuple[str, str], str] = {}  # contact -> endpoint
        for item in items:
            name = item.get("ObjectName")
            if item.get("Event") != "EndpointList" or not name:
                continue
            endpoints.add(name)
            # "Contacts: aor/uri,aor/uri," lists static and registered contacts alike.
            for entry in item.get("Contacts", "").split(","):
                aor, sep, uri = entry.partition("/")
                if sep:
                    existing[(aor, uri)] = name
        self.endpoints = endpoints
        # Contacts gone while we were away disappear; the statuses of the others are kept (an
        # unchanged status sends no event, and PJSIPShowContacts lists registered contacts only).
        self.contacts = {k: c for k, c in self.contacts.items() if k in existing}
        self._listed_contacts = existing
        self._rebuild_health()

    def contact_status(self, msg: Event, now: float) -> None:
        key = (msg.get("AOR", ""), msg.get("URI", ""))
        status = msg.get("ContactStatus", "")
        if status == "Removed":
            self._set_contact(key, None)
            return
        endpoint = msg.get("EndpointName") or key[0]
        contact = Contact(
            endpoint, _CONTACT_STATUS.get(status, "unknown"), rtt(msg.get("RoundtripUsec"))
        )
        self._set_contact(key, contact)

    def _set_contact(self, key: tuple[str, str], contact: Contact | None) -> None:
        old = self.contacts.pop(key, None)
        if old is not None:
            self._by_endpoint.get(old.endpoint, set()).discard(key)
            self._refresh_health(old.endpoint)
        if contact is not None:
            self.contacts[key] = contact
            self._by_endpoint.setdefault(contact.endpoint, set()).add(key)
            self._refresh_health(contact.endpoint)

    def snap_contacts(self, items: Iterable[Event], now: float) -> None:
        """PJSIPShowContacts (registered contacts: `Aor`, `Uri`, `Status`) or PJSIPShowEndpoint
        (`ContactStatusDetail`: `AOR`, `URI`, `Status`): statuses merged per contact."""
        for item in items:
            name = item.get("Event")
            if name == "ContactList":
                key = (item.get("Aor", ""), item.get("Uri", ""))
                endpoint = item.get("Endpoint") or key[0]
            elif name == "ContactStatusDetail":
                key = (item.get("AOR", ""), item.get("URI", ""))
                endpoint = item.get("EndpointName") or key[0]
            else:
                continue
            status = _CONTACT_STATUS.get(item.get("Status", ""), "unknown")
            self._set_contact(key, Contact(endpoint, status, rtt(item.get("RoundtripUsec"))))

    def endpoints_without_status(self) -> list[str]:
        """Endpoints with a listed contact whose status we do not know (a static contact whose
        qualify result has not changed since we connected): PJSIPShowEndpoint tells."""
        return sorted({ep for key, ep in self._listed_contacts.items() if key not in self.contacts})

    # Per-endpoint health is kept up to date on each contact change (qualify results are few per
    # second even at 10,000 phones) so that a scrape only reads it.

    def _rebuild_health(self) -> None:
        self._by_endpoint = {}
        for key, contact in self.contacts.items():
            self._by_endpoint.setdefault(contact.endpoint, set()).add(key)
        self._health = {}
        for endpoint in self._by_endpoint:
            self._refresh_health(endpoint)

    def _refresh_health(self, endpoint: str) -> None:
        reachable, rtt, known = 0, None, False
        if endpoint in self.endpoints:
            for key in self._by_endpoint.get(endpoint, ()):
                contact = self.contacts[key]
                if contact.status == "unknown":
                    continue
                known = True
                if contact.status == "reachable":
                    reachable = 1
                    if contact.rtt is not None and (rtt is None or contact.rtt < rtt):
                        rtt = contact.rtt
        if known:
            self._health[endpoint] = (reachable, rtt)
        else:
            self._health.pop(endpoint, None)

    def endpoint_health(self) -> Mapping[str, tuple[int, float | None]]:
        """Per configured endpoint with a qualified contact: (reachable 0/1, best RTT seconds).
        Endpoints without contacts, or only unqualified ones, have no known reachability."""
        return self._health
