"""SIP over TLS and SRTP between the rendered PBX and a real phone (a second Asterisk, since sipp
has no SRTP): the phone registers over TLS, and the media of SDES and DTLS calls is encrypted on
the wire, as a capture in the router namespace shows (a plain call, the control, shows the tone)."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import netns, sites
from lab.asterisk import RunDir, wait_until
from lab.asterisk_phone import AsteriskPhone, Line
from lab.capture import Capture, Datagram
from lab.kubelet import write_mount
from lab.phones import PHONES_V6
from lab.pki import Ca
from lab.reloadpbx import LabPbx

pytestmark = pytest.mark.lab

CA = Ca("srtp test CA")
# The PBX answers and talks back: the voicemail greeting (prompts the PBX has and plays with the
# modules it loads anyway).
TALK = "[talk]\nexten => 100,1,Answer()\n same => n,VoiceMail(11@default,u)\n same => n,Hangup()\n"


def srtp_site() -> dict[str, Any]:
    """Both phones on a tls transport, their calls answered by a talking PBX; desk requires
    SDES, kitchen does not."""
    site = sites.home()
    site["transports"]["tls6"] = {"family": "ipv6", "protocol": "tls"}
    for name in ("desk", "kitchen"):
        site["endpoints"][name].update({"transport": "tls6", "context": "talk", "codecs": ["alaw"]})
        site["endpoints"][name].pop("media_encryption", None)
    site["endpoints"]["desk"]["media_encryption"] = {"method": "sdes", "required": True}
    # A third phone with DTLS-SRTP (keys negotiated on the media path), on the same account key.
    site["endpoints"]["lounge"] = {
        "auth": {"password_secret": "desk-password"},
        "transport": "tls6",
        "context": "talk",
        "codecs": ["alaw"],
        "media_encryption": {"method": "dtls", "required": True},
    }
    site["raw"] = {"extensions.conf": sites.HOLD + TALK}
    return site


@pytest.fixture(scope="module")
def pair(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabPbx, Any]]:
    pbx = LabPbx(rootfs, tmp_path_factory.mktemp("mounts"))
    phone: AsteriskPhone | None = None
    try:
        pbx.set_site(srtp_site())
        values = {**sites.secrets(pbx.password), **CA.issue((netns.POD_V6,)).secret_files(CA)}
        write_mount(pbx.secrets, values, mode=0o600)
        pbx.start()
        run = RunDir(rootfs, f"{pbx.lab.prefix}-phone").create()
        pbx.stoppers.append(run.remove)
        phone = AsteriskPhone(
            pbx.lab,
            run,
            cert=CA.issue((PHONES_V6,)),
            ca_pem=CA.cert_pem,
            lines={
                "desk": Line("desk", values["desk-password"].strip(), "sdes"),
                "kitchen": Line("kitchen", values["kitchen-password"].strip(), "no"),
                "lounge": Line("lounge", values["desk-password"].strip(), "dtls"),
            },
            register="desk",
        ).start()
        pbx.stoppers.append(phone.stop)
        yield pbx, phone
    finally:
        pbx.stop()


def rtp(datagrams: list[Datagram], source: str) -> list[bytes]:
    """RTP payloads (PCMA, payload type 8) sent by `source`; the header stays clear in SRTP."""
    out = []
    for d in datagrams:
        p = d.payload
        if d.source == source and len(p) > 12 and p[0] >> 6 == 2 and p[1] & 0x7F == 8:
            out.append(p[12:])
    return out


def common_share(payloads: list[bytes]) -> float:
    """The share of the audio bytes taken by the 4 most common byte values: about 1.6 % for
    encrypted media (uniform); far more for clear G.711 (the phone's milliwatt tone has 8
    distinct samples, the PBX's prompts are speech with pauses, near-zero samples)."""
    counts = collections.Counter(b for p in payloads for b in p[:160])
    return sum(n for _, n in counts.most_common(4)) / max(1, sum(counts.values()))


def call_and_capture(pbx: LabPbx, phone: AsteriskPhone, line: str) -> tuple[list[bytes], ...]:
    """The phone calls the PBX from `line`; RTP payloads each way as the router sees them."""
    capture = Capture(pbx.lab.router).start()
    try:
        phone.call(line, "100")

        def enough() -> bool:
            seen = capture.between(netns.POD_V6, PHONES_V6)
            return min(len(rtp(seen, netns.POD_V6)), len(rtp(seen, PHONES_V6))) >= 50

        wait_until(enough, 20, 0.1, f"RTP both ways on the {line} call")
    finally:
        capture.stop()
        phone.hangup_all()
    seen = capture.between(netns.POD_V6, PHONES_V6)
    return rtp(seen, PHONES_V6), rtp(seen, netns.POD_V6)


def test_phone_registers_over_tls_verifying_the_pbx(pair: tuple[LabPbx, AsteriskPhone]) -> None:
    """The phone (verify_server on, the CA's certificate) registers; the PBX has its contact
    over TLS."""
    pbx, phone = pair
    assert phone.ami is not None
    phone.ami.action({"Action": "PJSIPRegister", "Registration": "desk"})
    wait_until(phone.registered, 15, 0.2, "the phone registered over TLS")
    assert pbx.ami is not None
    contacts = pbx.ami.action({"Action": "PJSIPShowContacts"})
    uris = [m.get("Uri", "") for m in contacts if m.get("Endpoint") == "desk"]
    assert any(";transport=tls" in uri.lower() for uri in uris), uris


def test_sdes_call_media_is_encrypted_on_the_wire(pair: tuple[LabPbx, AsteriskPhone]) -> None:
    """desk (SDES required): both directions' RTP payloads look uniform (no tone, no speech),
    and each carries an authentication tag (longer than the 160 audio bytes)."""
    pbx, phone = pair
    sent, answered = call_and_capture(pbx, phone, "desk")
    for payloads in (sent, answered):
        assert common_share(payloads) < 0.04  # uniform: 4 / 256 plus chance
        assert {len(p) for p in payloads} <= {164, 170}  # 160 bytes + a 32- or 80-bit tag


def test_dtls_call_media_is_encrypted_on_the_wire(pair: tuple[LabPbx, AsteriskPhone]) -> None:
    """lounge (DTLS-SRTP required, a per-boot certificate checked by its SDP fingerprint): the
    media is encrypted both ways too."""
    pbx, phone = pair
    sent, answered = call_and_capture(pbx, phone, "lounge")
    for payloads in (sent, answered):
        assert common_share(payloads) < 0.04
        assert {len(p) for p in payloads} <= {164, 170}


def test_plain_call_shows_the_tone_in_clear(pair: tuple[LabPbx, AsteriskPhone]) -> None:
    """The control: kitchen (no SRTP) over the same path, and the capture sees the clear tone
    and speech, so the encrypted result above is not the detector's blindness."""
    pbx, phone = pair
    sent, answered = call_and_capture(pbx, phone, "kitchen")
    assert common_share(sent) > 0.4  # the tone
    assert common_share(answered) > 0.1  # the prompts
    for payloads in (sent, answered):
        assert {len(p) for p in payloads} == {160}
