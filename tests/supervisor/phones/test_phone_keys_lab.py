"""Phone keys on the lab's real Asterisk 22 with the rendered config, sipp as the phones: BLF
(dialog NOTIFYs on ringing, busy, idle), hold with the default music on hold and back to two-way
audio, call pickup of a ringing phone, blind and attended transfer (REFER) with audio after
them, and a phone behind a NAT router.

One Asterisk for the module. Phones live on PHONES_V6 in the provider namespace: desk and hall
register at the ringer (answers after 0.3 s and talks), den at a device that rings forever.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from lab import netns
from lab.asterisk import wait_until
from lab.fixtures import Started
from lab.harness import LabHarness
from lab.phonekeys import PacketCounter, blf, dialog_states, phone, stay
from lab.phones import PHONES_V6, RINGER_MEDIA_PORT, Phones
from lab.voicemail import MwiPhone
from tests.supervisor.render.test_asterisk_loads import Pbx, boot

pytestmark = pytest.mark.lab

PASSWORDS = {name: secrets.token_hex(8) for name in ("desk", "den", "kitchen", "hall", "roam")}
SITE = f"""\
addresses:
  ipv6: {netns.POD_V6}
endpoints:
  desk: {{auth: {{password_secret: desk}}, pickup_groups: [office]}}
  den: {{auth: {{password_secret: den}}, pickup_groups: [office]}}
  kitchen: {{auth: {{password_secret: kitchen}}, pickup_groups: [office]}}
  hall: {{auth: {{password_secret: hall}}, codecs: [ulaw, speex, g729, h264, h263, vp8, vp9]}}
  roam: {{auth: {{password_secret: roam}}, nat: true, qualify: 25}}
dialplan:
  extensions: {{"11": desk, "12": kitchen, "13": den, "14": hall, "15": roam}}
"""
KITCHEN_MEDIA_PORT = 16010
DEN_PORT = 5070
#: roam's phone, behind a NAT router whose public side is NAT_ROUTER_V6 (next to the pod).
NAT_PHONE_V6 = "2001:db8:5060::31"
NAT_ROUTER_V6 = "2001:db8:e8b1::fe"
NAT_PHONE_MEDIA_PORT = 16020


@pytest.fixture(scope="module")
def pbx(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    harness = LabHarness(rootfs)
    started = Started()
    try:
        site_dir = tmp_path_factory.mktemp("site")
        (site_dir / "site.yaml").write_text(SITE)
        secret_dir = tmp_path_factory.mktemp("secrets")
        for key, value in PASSWORDS.items():
            (secret_dir / key).write_text(value)
        the_pbx = boot(harness.lab, harness.run, started, site_dir, secret_dir)
        # Every rendered option and codec name (hall's pass-through and video codecs) taken.
        assert the_pbx.asterisk.problems() == []
        phones = Phones(harness.lab, harness.run)
        started.add(phones.stop)
        phones.start_ringer()
        phones.register({"desk": PASSWORDS["desk"], "hall": PASSWORDS["hall"]})
        den = MwiPhone(harness.lab, harness.run, "den", PASSWORDS["den"], DEN_PORT).start()
        started.add(den.stop)
        den.register()
        yield the_pbx
    finally:
        try:
            started.stop_all()
        finally:
            harness.close()


def events(pbx: Pbx, name: str, since: int = 0) -> list[dict[str, str]]:
    return [e for e in pbx.ami.events[since:] if e.get("Event") == name]


def channel_of(pbx: Pbx, endpoint: str, since: int) -> str:
    """The newest channel of `endpoint` created after event index `since`."""
    found = [
        e["Channel"]
        for e in events(pbx, "Newchannel", since)
        if re.fullmatch(rf"PJSIP/{endpoint}-[0-9a-f]{{8}}", e.get("Channel", ""))
    ]
    assert found, f"no channel of {endpoint}"
    return found[-1]


def test_blf_follows_ringing_busy_and_idle_and_hold_plays_music(pbx: Pbx) -> None:
    """Kitchen's BLF key on 11 gets NOTIFYs: idle, ringing (early), busy (confirmed), idle
    again; while kitchen holds the call desk receives the default class's RTP, and after it
    takes the call back audio flows both ways."""
    log = pbx.run.path("log") / "blf-kitchen-11.log"
    subscription = blf(pbx.lab, pbx.run, "kitchen", PASSWORDS["kitchen"], "11", log)
    try:
        wait_until(lambda: len(dialog_states(log)) >= 1, 10)
        to_desk = PacketCounter(pbx.lab, "provider", PHONES_V6, RINGER_MEDIA_PORT)
        to_kitchen = PacketCounter(pbx.lab, "provider", PHONES_V6, KITCHEN_MEDIA_PORT)
        try:
            since = len(pbx.ami.events)
            caller = phone(
                pbx.lab,
                pbx.run,
                "phone_hold.xml",
                "kitchen",
                PASSWORDS["kitchen"],
                "11",
                values={"TALK_MS": "2500", "HOLD_MS": "4000"},
                media_port=KITCHEN_MEDIA_PORT,
            )
            wait_until(lambda: events(pbx, "MusicOnHoldStart", since), 15)
            start = events(pbx, "MusicOnHoldStart", since)[0]
            assert start["Class"] == "default"
            assert start["Channel"].startswith("PJSIP/desk-")
            time.sleep(0.5)
            held = to_desk.packets()
            time.sleep(2)
            # 50 packets a second of the hold playlist (the kitchen sends nothing meanwhile).
            assert to_desk.packets() - held >= 80
            wait_until(lambda: events(pbx, "MusicOnHoldStop", since), 10)
            time.sleep(0.5)
            back = (to_desk.packets(), to_kitchen.packets())
            time.sleep(1.5)
            assert to_desk.packets() - back[0] >= 50  # the kitchen talks again
            assert to_kitchen.packets() - back[1] >= 50  # and hears the desk
            assert caller.wait(15) == 0, caller.output()[-2000:]
        finally:
            to_desk.close()
            to_kitchen.close()
        wait_until(lambda: dialog_states(log)[-1:] == ["terminated"], 10)
        states = dialog_states(log)
        assert states[0] in ("", "terminated")  # idle before the call
        assert "early" in states
        assert "confirmed" in states
        assert states.index("early") < states.index("confirmed")
    finally:
        subscription.stop()


def test_pickup_answers_a_ringing_phone_of_the_group(pbx: Pbx) -> None:
    """Hall calls den (which rings and never answers); kitchen dials *8 and gets the call."""
    since = len(pbx.ami.events)
    ringing = phone(
        pbx.lab,
        pbx.run,
        "phone_call.xml",
        "hall",
        PASSWORDS["hall"],
        "13",
        values={"TALK_MS": "3000"},
    )
    try:
        wait_until(
            lambda: any(
                e.get("DestChannel", "").startswith("PJSIP/den-")
                for e in events(pbx, "DialBegin", since)
            ),
            10,
        )
        picker = phone(
            pbx.lab,
            pbx.run,
            "phone_call.xml",
            "kitchen",
            PASSWORDS["kitchen"],
            "*8",
            values={"TALK_MS": "1000"},
        )
        assert picker.wait(20) == 0, picker.output()[-2000:]
        pickups = events(pbx, "Pickup", since)
        assert pickups, "no Pickup event"
        assert pickups[0]["Channel"].startswith("PJSIP/kitchen-")
        assert pickups[0]["TargetChannel"].startswith("PJSIP/den-")
    finally:
        ringing.stop()


def test_blind_transfer_connects_the_other_party_with_audio(pbx: Pbx) -> None:
    """Kitchen calls desk and presses Transfer (a blind REFER to 14): kitchen's leg ends, desk
    ends up bridged to hall, and both send audio through the pod after the transfer."""
    since = len(pbx.ami.events)
    counter = PacketCounter(pbx.lab, "provider", PHONES_V6, RINGER_MEDIA_PORT)
    try:
        transferer = phone(
            pbx.lab,
            pbx.run,
            "phone_refer.xml",
            "kitchen",
            PASSWORDS["kitchen"],
            "11",
            values={"TALK_MS": "1500", "TARGET": "14"},
        )
        assert transferer.wait(20) == 0, transferer.output()[-2000:]
        transfers = events(pbx, "BlindTransfer", since)
        assert transfers, "no BlindTransfer event"
        assert transfers[0]["Result"] == "Success"
        assert transfers[0]["Extension"] == "14"
        desk, hall = channel_of(pbx, "desk", since), None
        kitchen = channel_of(pbx, "kitchen", since)
        # The transferer's leg is hung up by Asterisk once the transfer is under way.
        wait_until(lambda: any(e["Channel"] == kitchen for e in events(pbx, "Hangup", since)), 10)

        def bridged() -> bool:
            nonlocal hall
            entered = events(pbx, "BridgeEnter", since)
            bridges = {e["BridgeUniqueid"] for e in entered if e["Channel"] == desk}
            halls = [e for e in entered if e["Channel"].startswith("PJSIP/hall-")]
            if halls and halls[-1]["BridgeUniqueid"] in bridges:
                hall = halls[-1]["Channel"]
                return True
            return False

        wait_until(bridged, 10)
        time.sleep(0.5)
        before = counter.packets()
        time.sleep(1.5)
        # Desk's and hall's tones, each relayed by the pod to the other (both at the ringer).
        assert counter.packets() - before >= 100
        assert hall is not None
        pbx.ami.action({"Action": "Hangup", "Channel": hall})
    finally:
        counter.close()


def nat_router(pbx: Pbx) -> None:
    """The router masquerades NAT_PHONE_V6 behind NAT_ROUTER_V6 (UDP ports 40000-40999) and, as a
    home router does, lets nothing in to it but replies to what it sent."""
    lab = pbx.lab
    lab.add_address("provider", f"{NAT_PHONE_V6}/128")
    lab.run("router", ["ip", "-6", "route", "replace", f"{NAT_PHONE_V6}/128", "dev", "prov0"])
    lab.run("router", ["ip", "-6", "addr", "add", f"{NAT_ROUTER_V6}/128", "dev", "pod0", "nodad"])
    nat = ["ip6tables", "-t", "nat", "-A", "POSTROUTING", "-s", NAT_PHONE_V6, "-o", "pod0"]
    lab.run("router", [*nat, "-p", "udp", "-j", "MASQUERADE", "--to-ports", "40000-40999"])
    state = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED"]
    lab.run("router", ["ip6tables", "-A", "FORWARD", "-d", NAT_PHONE_V6, *state, "-j", "ACCEPT"])
    lab.run("router", ["ip6tables", "-A", "FORWARD", "-d", NAT_PHONE_V6, "-j", "DROP"])


def test_phone_behind_nat_registers_and_takes_a_call_with_audio_both_ways(pbx: Pbx) -> None:
    """roam (nat: true) registers from behind a masquerading router that lets nothing in: its
    contact is the router's mapping, and a call to it is answered with audio both ways."""
    nat_router(pbx)
    roam = stay(pbx.lab, pbx.run, NAT_PHONE_V6, "roam", PASSWORDS["roam"], stay_s=60, name="roam")
    to_roam = PacketCounter(pbx.lab, "provider", NAT_PHONE_V6, NAT_PHONE_MEDIA_PORT)
    to_kitchen = PacketCounter(pbx.lab, "provider", PHONES_V6, KITCHEN_MEDIA_PORT)
    try:

        def contact() -> str:
            listed = pbx.ami.action({"Action": "PJSIPShowContacts"})
            uris = [e.get("Uri", "") for e in listed if e.get("Endpoint") == "roam"]
            return uris[0] if uris else ""

        wait_until(contact, 15)
        # rewrite_contact: the router's public address, not the address the phone wrote.
        assert contact().startswith(f"sip:roam@[{NAT_ROUTER_V6}]:4"), contact()
        caller = phone(
            pbx.lab,
            pbx.run,
            "phone_call.xml",
            "kitchen",
            PASSWORDS["kitchen"],
            "15",
            values={"TALK_MS": "3000"},
            media_port=KITCHEN_MEDIA_PORT,
        )
        assert caller.wait(30) == 0, caller.output()[-2000:]
        # rtp_symmetric: the pod's RTP reached the phone through its mapping; and back.
        assert to_roam.packets() >= 50
        assert to_kitchen.packets() >= 50
    finally:
        to_roam.close()
        to_kitchen.close()
        roam.stop()


def test_attended_transfer_joins_the_consulted_phone_with_audio(pbx: Pbx) -> None:
    """Kitchen consults hall (a second call), then transfers desk to it (REFER with Replaces):
    both kitchen legs end, desk and hall are bridged and talk through the pod."""
    since = len(pbx.ami.events)
    out = pbx.run.path("log") / "consult-dialog.txt"
    out.unlink(missing_ok=True)
    consult = phone(
        pbx.lab,
        pbx.run,
        "phone_consult.xml",
        "kitchen",
        PASSWORDS["kitchen"],
        "14",
        values={"OUT": pbx.run.inside(out)},
    )
    counter = PacketCounter(pbx.lab, "provider", PHONES_V6, RINGER_MEDIA_PORT)
    try:
        wait_until(lambda: out.exists() and len(out.read_text().split()) == 3, 15)
        call_id, to_tag, from_tag = out.read_text().split()
        replaces = quote(f"{call_id};to-tag={to_tag};from-tag={from_tag}", safe="")
        transferer = phone(
            pbx.lab,
            pbx.run,
            "phone_refer_attended.xml",
            "kitchen",
            PASSWORDS["kitchen"],
            "11",
            values={"TALK_MS": "1000", "TARGET": "14", "REPLACES": replaces},
        )
        assert transferer.wait(20) == 0, transferer.output()[-2000:]
        transfers = events(pbx, "AttendedTransfer", since)
        assert transfers, "no AttendedTransfer event"
        assert transfers[0]["Result"] == "Success"
        assert consult.wait(20) == 0, consult.output()[-2000:]  # its leg got BYE
        desk = channel_of(pbx, "desk", since)
        hall = channel_of(pbx, "hall", since)

        def bridged() -> bool:
            entered = events(pbx, "BridgeEnter", since)
            desks = [e["BridgeUniqueid"] for e in entered if e["Channel"] == desk]
            halls = [e["BridgeUniqueid"] for e in entered if e["Channel"] == hall]
            return bool(desks and halls and desks[-1] == halls[-1])

        wait_until(bridged, 10)
        time.sleep(0.5)
        before = counter.packets()
        time.sleep(1.5)
        assert counter.packets() - before >= 100
        pbx.ami.action({"Action": "Hangup", "Channel": hall})
    finally:
        counter.close()
        consult.stop()
