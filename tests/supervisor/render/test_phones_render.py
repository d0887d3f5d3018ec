"""Phone keys in the rendered config: caller ID, DTMF, language, direct media, transfer, pickup
groups and code, BLF hints, the default music-on-hold class and call time limits."""

from __future__ import annotations

import pytest

from supervisor import confparse
from supervisor.render import MODULE_OF_FILE, RenderContext, render
from supervisor.render.callcheck import check
from supervisor.site.errors import SiteInvalid
from tests.supervisor.render.special import special_matches
from tests.supervisor.site.sites import load_text

CONTEXT = RenderContext(ami_secret="test-secret-0123")
SECRETS = {"desk-password": "d-secret", "kitchen-password": "k-secret"}
SITE = """\
addresses:
  ipv6: 2001:db8:e8b1::1:1
endpoints:
  desk:
    auth: {password_secret: desk-password}
    caller_id: {name: Front Desk}
    dtmf_mode: info
    language: de
    direct_media: true
    transfer: false
    pickup_groups: [office]
  kitchen:
    auth: {password_secret: kitchen-password}
    caller_id: {number: "700"}
    pickup_groups: [office, home]
dialplan:
  extensions:
    "11": desk
    "12": kitchen
    "20": all
  ring_groups:
    all: {endpoints: [desk, kitchen]}
"""


def endpoint(files: dict[str, str], name: str) -> dict[str, str]:
    found, _ = confparse.structure(confparse.parse(files["pjsip.conf"]))
    for header, settings in found:
        values = {s.name: s.value for s in settings}
        if header.name == name and values.get("type") == "endpoint":
            return values
    raise AssertionError(name)


def test_phone_keys_render_on_the_endpoint() -> None:
    """Caller ID (number defaulting to the lowest extension), DTMF mode, language, direct media,
    transfer and the named call/pickup groups are the endpoint's options."""
    files = render(load_text(SITE, SECRETS), CONTEXT)
    desk, kitchen = endpoint(files, "desk"), endpoint(files, "kitchen")
    assert desk["callerid"] == "Front Desk <11>"
    assert kitchen["callerid"] == "<700>"
    assert (desk["dtmf_mode"], kitchen["dtmf_mode"]) == ("info", "rfc4733")
    assert desk["language"] == "de"
    assert "language" not in kitchen
    assert (desk["direct_media"], kitchen["direct_media"]) == ("yes", "no")
    assert (desk["allow_transfer"], kitchen["allow_transfer"]) == ("no", "yes")
    assert desk["named_pickup_group"] == desk["named_call_group"] == "office"
    assert kitchen["named_pickup_group"] == "office,home"


def test_hints_pickup_code_and_hold_music() -> None:
    """Each extension ringing a phone has a BLF hint (a group none), *8 picks up, and the
    default hold class plays the image's own sounds, reloaded by res_musiconhold."""
    files = render(load_text(SITE, SECRETS), CONTEXT)
    dialplan = files["extensions.conf"]
    assert "exten => 11,hint,PJSIP/desk" in dialplan
    assert "exten => 12,hint,PJSIP/kitchen" in dialplan
    assert ",hint," not in dialplan.split("exten => 20,")[1].split("\n")[0]
    assert "exten => *8,1,Pickup()" in dialplan
    moh = files["musiconhold.conf"]
    assert "mode = playlist" in moh
    assert "entry = /usr/share/asterisk/sounds/en/beep" in moh
    assert MODULE_OF_FILE["musiconhold.conf"] == "res_musiconhold.so"
    no_pickup = SITE + "  pickup: null\n"
    assert "Pickup()" not in render(load_text(no_pickup, SECRETS), CONTEXT)["extensions.conf"]


def test_bad_phone_keys_are_refused_with_their_place() -> None:
    """A DTMF mode Asterisk does not document and a pickup code taken by an extension are
    refused at their key."""
    text = SITE.replace("dtmf_mode: info", "dtmf_mode: sip_info") + '  pickup: "11"\n'
    with pytest.raises(SiteInvalid) as caught:
        load_text(text, SECRETS)
    assert [str(p) for p in caught.value.problems] == [
        "site.yaml:7: endpoints.desk.dtmf_mode: 'sip_info' is not a DTMF mode of this "
        "Asterisk (auto, auto_info, inband, info, rfc4733)",
        "site.yaml:23: dialplan.pickup: 11 is also in dialplan.extensions",
    ]


def test_phones_behind_nat_by_default_or_per_phone() -> None:
    """nat.phones makes every phone a NAT phone unless it says otherwise; a NAT phone gets
    rewrite_contact, force_rport and rtp_symmetric, the others none of them."""
    text = SITE.replace("    direct_media: true\n", "    nat: false\n") + "nat: {phones: true}\n"
    files = render(load_text(text, SECRETS), CONTEXT)
    desk, kitchen = endpoint(files, "desk"), endpoint(files, "kitchen")
    assert "rewrite_contact" not in desk
    assert (kitchen["rewrite_contact"], kitchen["force_rport"], kitchen["rtp_symmetric"]) == (
        "yes",
        "yes",
        "yes",
    )
    assert "res_pjsip_nat.so" in files["modules.conf"]


def test_nat_phone_needs_qualify_and_no_direct_media() -> None:
    """A phone behind NAT without keep-alive, or with direct media, is refused at its key."""
    text = SITE.replace("    direct_media: true\n", "    direct_media: true\n    nat: true\n")
    text = text.replace('    caller_id: {number: "700"}\n', "    qualify: 0\n    nat: true\n")
    with pytest.raises(SiteInvalid) as caught:
        load_text(text, SECRETS)
    assert [str(p) for p in caught.value.problems] == [
        "site.yaml:9: endpoints.desk.direct_media: a phone behind NAT cannot take media directly",
        "site.yaml:15: endpoints.kitchen.qualify: a phone behind NAT needs qualify (e.g. 25): "
        "it keeps its router's mapping open for calls to it",
    ]


def test_rtp_range_is_the_sites_inside_the_images() -> None:
    """rtp.conf takes the site's range; an odd start, a range outside 10000-20000 or too small
    for one call leg is refused."""
    files = render(load_text(SITE + "rtp: {start: 16384, end: 16483}\n", SECRETS), CONTEXT)
    assert "rtpstart = 16384\nrtpend = 16483\n" in files["rtp.conf"]
    for bad, message in (
        ("{start: 16385, end: 16483}", "start 16385 is odd: RTP takes even ports"),
        ("{start: 9000, end: 16483}", "must be at least 10000"),
        ("{start: 16384, end: 16385}", "the range must hold at least one call leg (4 ports)"),
    ):
        with pytest.raises(SiteInvalid) as caught:
            load_text(SITE + f"rtp: {bad}\n", SECRETS)
        assert message in str(caught.value.problems[0]), caught.value.problems


def test_pbx_behind_nat_names_the_external_address_on_its_transports() -> None:
    """nat.pbx puts the external address and local networks on the transports of its family
    only; an external address of a family the pod lacks, or the pod's own, is refused."""
    text = SITE.replace(
        "addresses:\n  ipv6: 2001:db8:e8b1::1:1\n",
        "addresses:\n  ipv6: 2001:db8:e8b1::1:1\n  ipv4: 203.0.113.10\n",
    )
    text += "nat:\n  pbx: {external_ipv4: 198.51.100.1, local_networks: [203.0.113.0/24]}\n"
    found, _ = confparse.structure(
        confparse.parse(render(load_text(text, SECRETS), CONTEXT)["pjsip.conf"])
    )
    transports = {h.name: {s.name: s.value for s in settings} for h, settings in found}
    assert transports["udp4"]["external_signaling_address"] == "198.51.100.1"
    assert transports["udp4"]["external_media_address"] == "198.51.100.1"
    assert transports["udp4"]["local_net"] == "203.0.113.0/24"
    assert "external_media_address" not in transports["udp6"]
    with pytest.raises(SiteInvalid) as caught:
        load_text(SITE + "nat:\n  pbx: {external_ipv4: 198.51.100.1}\n", SECRETS)
    assert [str(p) for p in caught.value.problems] == [
        "site.yaml:24: nat.pbx.external_ipv4: the pod has no ipv4 address to forward to"
    ]
    with pytest.raises(SiteInvalid) as caught:
        load_text(text.replace("198.51.100.1,", "203.0.113.10,"), SECRETS)
    assert [str(p) for p in caught.value.problems] == [
        "site.yaml:25: nat.pbx.external_ipv4: is the pod's own address: the PBX is then not "
        "behind NAT"
    ]


def test_call_limit_enters_a_context_that_sets_it_then_the_phones_own() -> None:
    """A phone with call_limit enters limit-<name> (TIMEOUT(absolute), then Goto its context
    with the filtered number only), keeps its hints for BLF (subscribe_context), loads
    func_timeout, and the dialplan passes the call-time checker; a phone without is unchanged."""
    text = SITE.replace("    dtmf_mode: info\n", "    dtmf_mode: info\n    call_limit: 3600\n")
    files = render(load_text(text, SECRETS), CONTEXT)
    desk, kitchen = endpoint(files, "desk"), endpoint(files, "kitchen")
    assert (desk["context"], desk["subscribe_context"]) == ("limit-desk", "internal")
    assert kitchen["context"] == "internal"
    assert "subscribe_context" not in kitchen
    items = confparse.parse(files["extensions.conf"])
    assert check(items) == []
    assert special_matches(items) == []
    limit = [
        f"{s.name} => {s.value}"
        for header, settings in confparse.structure(items)[0]
        if header.name == "limit-desk"
        for s in settings
    ]
    assert "exten => s,1,Set(TIMEOUT(absolute)=3600)" in limit
    assert "same => n,Goto(internal,s,1)" in limit
    assert limit.count("same => n,Goto(internal,${SAFE_NUMBER},1)") == 2
    assert "load = func_timeout.so" in files["modules.conf"]


def test_call_limit_bounds_and_raw_collision() -> None:
    """0 and more than a day are refused at their key; a raw context cannot take limit-<name>."""
    for value in ("0", "86401", "ten"):
        text = SITE.replace(
            "    dtmf_mode: info\n", f"    dtmf_mode: info\n    call_limit: {value}\n"
        )
        with pytest.raises(SiteInvalid) as caught:
            load_text(text, SECRETS)
        assert str(caught.value.problems[0]).startswith("site.yaml:8: endpoints.desk.call_limit: ")
    text = SITE.replace("    dtmf_mode: info\n", "    dtmf_mode: info\n    call_limit: 60\n")
    text += "raw:\n  extensions.conf: |\n    [limit-desk]\n    exten => 1,1,NoOp()\n"
    with pytest.raises(SiteInvalid) as caught:
        load_text(text, SECRETS)
    assert "limit-desk" in str(caught.value.problems[0])
