"""Builders for AMI events and list items as Asterisk 22 sends them (fields the code reads)."""

from __future__ import annotations

Fields = dict[str, str]


def chan(name: str, uid: str, linked: str, state: str = "4") -> Fields:
    return {
        "Channel": name,
        "ChannelState": state,
        "ChannelStateDesc": {"4": "Ring", "5": "Ringing", "6": "Up"}.get(state, "Down"),
        "CallerIDNum": "100",
        "Exten": "200",
        "Uniqueid": uid,
        "Linkedid": linked,
    }


def newchannel(name: str, uid: str, linked: str | None = None, state: str = "4") -> Fields:
    return {"Event": "Newchannel", "Privilege": "call,all", **chan(name, uid, linked or uid, state)}


def up(name: str, uid: str, linked: str | None = None) -> Fields:
    return {"Event": "Newstate", "Privilege": "call,all", **chan(name, uid, linked or uid, "6")}


def hangup(name: str, uid: str, linked: str | None = None, cause: str = "16") -> Fields:
    return {
        "Event": "Hangup",
        "Privilege": "call,all",
        **chan(name, uid, linked or uid, "6"),
        "Cause": cause,
        "Cause-txt": "x",
    }


def dialend(caller_uid: str, linked: str, status: str) -> Fields:
    return {
        "Event": "DialEnd",
        "Privilege": "call,all",
        "Uniqueid": caller_uid,
        "Linkedid": linked,
        "DestUniqueid": caller_uid + "9",
        "DestLinkedid": linked,
        "DialStatus": status,
    }


def core_show_channel(name: str, uid: str, linked: str | None = None, state: str = "6") -> Fields:
    return {
        "Event": "CoreShowChannel",
        **chan(name, uid, linked or uid, state),
        "Duration": "00:00:07",
    }


def registry(client_uri: str, status: str) -> Fields:
    return {
        "Event": "Registry",
        "Privilege": "system,all",
        "ChannelType": "PJSIP",
        "Username": client_uri,
        "Domain": "sip:[2001:db8:5060::10]:5060",
        "Status": status,
    }


def registration_detail(name: str, client_uri: str, status: str) -> Fields:
    return {
        "Event": "OutboundRegistrationDetail",
        "ObjectType": "registration",
        "ObjectName": name,
        "ServerUri": "sip:[2001:db8:5060::10]:5060",
        "ClientUri": client_uri,
        "Status": status,
    }


def contact_status(endpoint: str, uri: str, status: str, rtt_usec: str = "0") -> Fields:
    return {
        "Event": "ContactStatus",
        "Privilege": "system,all",
        "URI": uri,
        "ContactStatus": status,
        "AOR": endpoint,
        "EndpointName": endpoint,
        "RoundtripUsec": rtt_usec,
    }
