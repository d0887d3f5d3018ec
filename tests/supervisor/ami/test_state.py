"""AsteriskState: calls, trunks and contacts from AMI events and re-sync snapshots."""

from __future__ import annotations

from supervisor.ami.calls import pjsip_endpoint
from supervisor.ami.state import AsteriskState
from tests.supervisor.ami.events import (
    contact_status,
    core_show_channel,
    dialend,
    hangup,
    newchannel,
    registration_detail,
    registry,
    up,
)

TRUNKS = {"provider": "acme"}
URI = "sip:pod1@[2001:db8:5060::10]:5060"


def feed(
    state: AsteriskState, *events: dict[str, str], t0: float = 1000.0, step: float = 1.0
) -> None:
    for i, event in enumerate(events):
        state.event(event, t0 + i * step)


def test_pjsip_endpoint_from_channel_name() -> None:
    """The endpoint is the channel name between `PJSIP/` and the last dash; others have none."""
    assert pjsip_endpoint("PJSIP/door-bell-0000000a") == "door-bell"
    assert pjsip_endpoint("Local/100@phones-00000001;1") is None


def test_inbound_answered_call_counts_once_with_times() -> None:
    """A trunk call answered by a phone: inbound, answered, delay and talk time observed once."""
    s = AsteriskState(trunks=TRUNKS)
    feed(
        s,
        newchannel("PJSIP/provider-00000001", "1.1"),  # t=1000
        newchannel("PJSIP/phone1-00000002", "1.2", "1.1"),  # 1001
        dialend("1.1", "1.1", "ANSWER"),  # 1002
        up("PJSIP/provider-00000001", "1.1"),  # 1003: answered 3 s after start
        hangup("PJSIP/phone1-00000002", "1.2", "1.1"),  # 1004
        hangup("PJSIP/provider-00000001", "1.1", cause="16"),  # 1005: 2 s talk time
        hangup("PJSIP/provider-00000001", "1.1", cause="16"),  # replayed: ignored
    )
    assert s.calls.total == {("inbound", "acme", "answered"): 1}
    assert s.calls.hangup_causes == {"16": 1}
    assert (s.calls.answer_delay.count, s.calls.answer_delay.sum) == (1, 3.0)
    assert (s.calls.duration.count, s.calls.duration.sum) == (1, 2.0)
    assert s.calls.count == 0
    assert not s.calls.channels


def test_outcomes_and_directions() -> None:
    """Busy/no-answer from Dial, cancelled by the caller, failed; outbound to and internal."""
    s = AsteriskState(trunks=TRUNKS)
    # outbound busy: phone calls the trunk, the provider answers 486
    feed(
        s,
        newchannel("PJSIP/phone1-00000001", "2.1"),
        newchannel("PJSIP/provider-00000002", "2.2", "2.1"),
        dialend("2.1", "2.1", "BUSY"),
        hangup("PJSIP/provider-00000002", "2.2", "2.1", cause="17"),
        hangup("PJSIP/phone1-00000001", "2.1", cause="17"),
    )
    # internal no answer: doorbell rings a phone until the Dial timeout
    feed(
        s,
        newchannel("PJSIP/doorbell-00000003", "3.1"),
        newchannel("PJSIP/phone1-00000004", "3.2", "3.1"),
        dialend("3.1", "3.1", "NOANSWER"),
        hangup("PJSIP/phone1-00000004", "3.2", "3.1", cause="19"),
        hangup("PJSIP/doorbell-00000003", "3.1", cause="19"),
    )
    # internal, caller hangs up before anything: no Dial, cause 16
    feed(s, newchannel("PJSIP/doorbell-00000005", "4.1"), hangup("PJSIP/doorbell-00000005", "4.1"))
    # inbound rejected with an unknown cause: failed
    feed(
        s,
        newchannel("PJSIP/provider-00000006", "5.1"),
        hangup("PJSIP/provider-00000006", "5.1", cause="21"),
    )
    assert s.calls.total == {
        ("outbound", "acme", "busy"): 1,
        ("internal", "", "no_answer"): 1,
        ("internal", "", "cancelled"): 1,
        ("inbound", "acme", "failed"): 1,
    }
    assert s.calls.hangup_causes == {"17": 1, "19": 1, "16": 1, "21": 1}
    assert s.calls.duration.count == 0
    assert s.calls.answer_delay.count == 0


def test_snapshot_after_reconnect_ends_missing_calls_once_and_adopts_new_ones() -> None:
    """Re-sync: a call that ended while away counts once as `lost` (no duration); a new one is
    tracked."""
    s = AsteriskState(trunks=TRUNKS)
    feed(
        s,
        newchannel("PJSIP/phone1-00000001", "6.1"),
        up("PJSIP/phone1-00000001", "6.1"),
        newchannel("PJSIP/phone2-00000002", "7.1"),
        up("PJSIP/phone2-00000002", "7.1"),
    )
    # Reconnected: 6.1 is gone, 7.1 still up, 8.1 started while we were away.
    snapshot = [
        core_show_channel("PJSIP/phone2-00000002", "7.1"),
        core_show_channel("PJSIP/provider-00000003", "8.1"),
    ]
    s.snapshot("CoreShowChannels", snapshot, 2000.0)
    s.snapshot("CoreShowChannels", snapshot, 2001.0)  # twice: idempotent
    assert s.calls.total == {("internal", "", "lost"): 1}
    assert s.calls.hangup_causes == {"unknown": 1}
    assert set(s.calls.channels) == {"7.1", "8.1"}
    assert s.calls.count == 2
    # The late Hangup of the call counted at re-sync changes nothing.
    feed(s, hangup("PJSIP/phone1-00000001", "6.1"), t0=2002.0)
    assert sum(s.calls.total.values()) == 1
    feed(
        s,
        hangup("PJSIP/phone2-00000002", "7.1"),
        hangup("PJSIP/provider-00000003", "8.1"),
        t0=2003.0,
    )
    assert s.calls.total == {
        ("internal", "", "lost"): 1,
        ("internal", "", "answered"): 1,
        ("inbound", "acme", "answered"): 1,
    }
    # 7.1 was watched throughout: both histograms; 6.1's answer was seen but not its end; 8.1
    # was adopted mid-call: none.
    assert s.calls.duration.count == 1
    assert s.calls.answer_delay.count == 2


def test_snapshot_does_not_resurrect_a_channel_whose_hangup_came_first() -> None:
    """A snapshot racing with a Hangup does not bring the channel back."""
    s = AsteriskState()
    feed(s, newchannel("PJSIP/a-00000001", "9.1"), hangup("PJSIP/a-00000001", "9.1"))
    s.snapshot("CoreShowChannels", [core_show_channel("PJSIP/a-00000001", "9.1")], 2000.0)
    assert not s.calls.channels
    assert sum(s.calls.total.values()) == 1


def test_registration_status_changes_and_last_success() -> None:
    """Registry events map to the registration by client URI; changes count transitions only."""
    s = AsteriskState()
    s.snapshot(
        "PJSIPShowRegistrationsOutbound", [registration_detail("acme", URI, "Unregistered")], 10.0
    )
    feed(s, registry(URI, "Registered"), registry(URI, "Registered"), t0=20.0)
    reg = s.peers.registrations["acme"]
    assert (reg.status, reg.changes, reg.last_success) == (1, 1, 21.0)
    feed(s, registry(URI, "Rejected"), registry("sip:other@x", "Registered"), t0=30.0)
    assert (reg.status, reg.changes, reg.last_success) == (2, 2, 21.0)
    assert list(s.peers.registrations) == ["acme"]
    s.snapshot("PJSIPShowRegistrationsOutbound", [], 40.0)  # deleted by a reload
    assert not s.peers.registrations


def test_endpoint_health_from_contacts() -> None:
    """Reachable if any qualified contact is; RTT is the best; unknown endpoints never appear."""
    s = AsteriskState()
    s.snapshot(
        "PJSIPShowEndpoints",
        [{"Event": "EndpointList", "ObjectName": n} for n in ("phone1", "phone2", "doorbell")],
        0.0,
    )
    feed(
        s,
        contact_status("phone1", "sip:a@x", "Reachable", "3000"),
        contact_status("phone1", "sip:b@x", "Unreachable"),
        contact_status("phone2", "sip:c@x", "Unreachable"),
        contact_status("stranger", "sip:d@x", "Reachable", "1000"),
        contact_status("doorbell", "sip:e@x", "NonQualified"),
    )
    assert s.peers.endpoint_health() == {"phone1": (1, 0.003), "phone2": (0, None)}
    feed(s, contact_status("phone1", "sip:a@x", "Removed"))
    assert s.peers.endpoint_health()["phone1"] == (0, None)


def test_static_contact_status_survives_resync_and_gaps_are_listed() -> None:
    """A re-sync keeps known contact statuses, drops contacts no longer listed, and names the
    endpoints whose listed contacts still have no status (to ask with PJSIPShowEndpoint)."""
    s = AsteriskState()
    listing = [
        {"Event": "EndpointList", "ObjectName": "door", "Contacts": "door/sip:d@x,"},
        {"Event": "EndpointList", "ObjectName": "desk", "Contacts": "desk/sip:e@x,"},
    ]
    s.snapshot("PJSIPShowEndpoints", listing, 0.0)
    feed(
        s,
        contact_status("door", "sip:d@x", "Reachable", "900"),
        contact_status("gone", "u", "Reachable"),
    )
    s.snapshot("PJSIPShowEndpoints", listing, 1.0)  # reconnect
    s.snapshot("PJSIPShowContacts", [], 1.0)  # "No Contacts found": only registrations count
    assert s.peers.endpoint_health() == {"door": (1, 0.0009)}
    assert ("gone", "u") not in s.peers.contacts
    assert s.peers.endpoints_without_status() == ["desk"]
    detail = {
        "Event": "ContactStatusDetail",
        "AOR": "desk",
        "URI": "sip:e@x",
        "Status": "Unreachable",
        "EndpointName": "desk",
    }
    s.snapshot("PJSIPShowEndpoint", [detail], 2.0)
    assert s.peers.endpoint_health()["desk"] == (0, None)
    assert s.peers.endpoints_without_status() == []


def test_reconcile_on_a_timer_acts_only_on_confirmed_discrepancies() -> None:
    """While synced, a channel missing from one list may have its Hangup in flight: it is closed
    as `lost` only when the next list confirms it; an unknown listed channel is adopted only
    when confirmed; a Hangup arriving in between counts the real outcome."""
    s = AsteriskState(trunks=TRUNKS)
    s.set_connected(True, 1000.0)
    s.snapshot("CoreShowChannels", [], 1000.0)
    s.set_synced()
    feed(
        s,
        newchannel("PJSIP/phone1-00000001", "6.1"),
        up("PJSIP/phone1-00000001", "6.1"),
        newchannel("PJSIP/phone2-00000002", "7.1"),
        up("PJSIP/phone2-00000002", "7.1"),
        t0=1001.0,
    )
    new = [core_show_channel("PJSIP/phone3-00000003", "8.1")]
    s.snapshot("CoreShowChannels", new, 1030.0)  # 6.1 and 7.1 missing, 8.1 unknown
    assert s.calls.count == 2
    assert not s.calls.total
    feed(s, hangup("PJSIP/phone1-00000001", "6.1"), t0=1031.0)  # its Hangup was in flight
    s.snapshot("CoreShowChannels", new, 1060.0)  # 7.1 still missing: a phantom
    assert s.calls.total == {("internal", "", "answered"): 1, ("internal", "", "lost"): 1}
    assert set(s.calls.active) == {"8.1"}
    assert s.calls.lost == 1


def test_a_missed_event_never_leaves_a_phantom_call_after_two_reconciles() -> None:
    """Whatever events were lost, two lists without a channel close its call (any class of
    gap: a dropped Hangup, a frozen Asterisk, a cut session)."""
    s = AsteriskState()
    s.set_connected(True, 1000.0)
    s.snapshot("CoreShowChannels", [], 1000.0)
    s.set_synced()
    for i in range(50):
        feed(s, newchannel(f"PJSIP/a-{i:08x}", f"9.{i}"), t0=1001.0)
    for t in (1030.0, 1060.0):
        s.snapshot("CoreShowChannels", [], t)
    assert s.calls.count == 0
    assert s.calls.total == {("internal", "", "lost"): 50}


def test_times_come_from_asterisk_timestamps_not_arrival() -> None:
    """Events processed late (a backlog) still give the durations Asterisk's Timestamp says."""
    s = AsteriskState(trunks=TRUNKS)

    def at(event: dict[str, str], stamp: float) -> dict[str, str]:
        return {**event, "Timestamp": f"{stamp:.6f}"}

    arrival = 5000.0  # all processed at once, long after
    for event in (
        at(newchannel("PJSIP/provider-00000001", "1.1"), 1000.0),
        at(up("PJSIP/provider-00000001", "1.1"), 1002.5),
        at(hangup("PJSIP/provider-00000001", "1.1"), 1010.5),
    ):
        s.event(event, arrival)
    assert (s.calls.answer_delay.count, s.calls.answer_delay.sum) == (1, 2.5)
    assert (s.calls.duration.count, s.calls.duration.sum) == (1, 8.0)
    assert s.last_event_time == arrival


def test_busy_while_a_call_or_a_channel_is_active() -> None:
    """busy() (what restart-when-idle waits for) is true from a channel's appearance to its
    hangup."""
    state = AsteriskState()
    assert not state.calls.busy()
    state.event(newchannel("PJSIP/desk-00000001", "9.1"), 1.0)
    assert state.calls.busy()
    state.event(hangup("PJSIP/desk-00000001", "9.1"), 2.0)
    assert not state.calls.busy()
