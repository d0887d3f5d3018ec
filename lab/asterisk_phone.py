"""A second Asterisk playing a desk phone where sipp cannot (SRTP): it lives in the provider
namespace on the phones' address, registers with the PBX over TLS (verifying the PBX's
certificate against a CA), and places calls with or without SDES-SRTP, sending a milliwatt tone.

Its config is hand-written test data (the phone is not the product)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from lab.ami import LabAmi
from lab.asterisk import Asterisk, RunDir, directories_section, wait_until, write_config
from lab.netns import POD_V6, Lab
from lab.phones import PHONES_V6, Phones
from lab.pki import Issued

MODULES = (
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_pjproject.so",
    "res_geolocation.so",
    "res_pjsip.so",
    "res_pjsip_pubsub.so",
    "res_pjsip_session.so",
    "chan_pjsip.so",
    "res_pjsip_outbound_authenticator_digest.so",
    "res_pjsip_outbound_registration.so",
    "res_pjsip_sdp_rtp.so",
    "res_rtp_asterisk.so",
    "res_srtp.so",
    "pbx_config.so",
    "app_milliwatt.so",
    "codec_alaw.so",
    "codec_ulaw.so",
    "res_timing_timerfd.so",
)


def _escape(value: str) -> str:
    return value.replace(";", "\\;")


@dataclass
class Line:
    """One account on the PBX: user name, password and the SRTP the phone asks for."""

    username: str
    password: str = field(repr=False)
    media_encryption: str = "no"  # sdes, dtls or no


@dataclass
class AsteriskPhone:
    lab: Lab
    run: RunDir
    cert: Issued
    ca_pem: str
    lines: Mapping[str, Line]
    register: str | None = None  # the line that registers
    ami_secret: str = field(default_factory=lambda: secrets.token_hex(12), repr=False)
    asterisk: Asterisk | None = None
    ami: LabAmi | None = None

    def config(self) -> dict[str, str]:
        etc = self.run.path("etc")
        inside = self.run.inside
        dirs = "\n".join(f"{k} => {v}" for k, v in directories_section(self.run).items())
        load = "\n".join(f"load = {m}" for m in MODULES)
        pjsip = [
            "[global]\ntype = global\nuser_agent = lab-phone\n",
            f"[tls]\ntype = transport\nprotocol = tls\nbind = [{PHONES_V6}]:5061\n"
            f"cert_file = {inside(etc / 'phone.crt')}\n"
            f"priv_key_file = {inside(etc / 'phone.key')}\n"
            f"ca_list_file = {inside(etc / 'ca.crt')}\nmethod = sslv23\nverify_server = yes\n",
            f"[pbx]\ntype = aor\ncontact = sip:[{POD_V6}]:5061\\;transport=tls\n",
        ]
        for name, line in self.lines.items():
            pjsip.append(
                f"[{name}]\ntype = auth\nauth_type = digest\nusername = {line.username}\n"
                f"password = {_escape(line.password)}\n"
            )
            pjsip.append(
                f"[{name}]\ntype = endpoint\ntransport = tls\naors = pbx\noutbound_auth = {name}\n"
                f"from_user = {line.username}\ncontext = phone\ndisallow = all\nallow = alaw\n"
                f"rtp_ipv6 = yes\nmedia_address = {PHONES_V6}\nbind_rtp_to_media_address = yes\n"
                f"media_encryption = {line.media_encryption}\n"
                + (
                    "dtls_auto_generate_cert = yes\ndtls_verify = fingerprint\n"
                    "dtls_setup = actpass\n"
                    if line.media_encryption == "dtls"
                    else ""
                )
            )
        if self.register is not None:
            line = self.lines[self.register]
            pjsip.append(
                f"[{self.register}]\ntype = registration\ntransport = tls\n"
                f"outbound_auth = {self.register}\n"
                f"server_uri = sip:[{POD_V6}]:5061\\;transport=tls\n"
                f"client_uri = sip:{line.username}@[{POD_V6}]:5061\n"
                f"contact_user = {line.username}\nexpiration = 300\nretry_interval = 5\n"
            )
        return {
            "asterisk.conf": f"[directories]\n{dirs}\n\n[options]\nrunuser = asterisk\n"
            "rungroup = asterisk\n",
            "modules.conf": f"[modules]\nautoload = no\n{load}\n",
            "logger.conf": "[general]\n[logfiles]\nconsole => notice,warning,error\n",
            "manager.conf": "[general]\nenabled = yes\nbindaddr = 127.0.0.1\nport = 5038\n\n"
            f"[phone]\nsecret = {self.ami_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
            "permit = 127.0.0.1/255.255.255.255\nread = system,call\n"
            "write = system,call,originate\n",
            "pjsip.conf": "\n".join(pjsip),
            "extensions.conf": "[phone]\nexten => s,1,Hangup()\n",
            "rtp.conf": "[general]\nrtpstart = 20000\nrtpend = 20100\n",
            "phone.crt": self.cert.cert_pem,
            "phone.key": self.cert.key_pem,
            "ca.crt": self.ca_pem,
        }

    def start(self) -> AsteriskPhone:
        Phones(self.lab, self.run)._address()
        write_config(self.run, self.config())
        self.asterisk = Asterisk(self.lab, self.run, host="provider").start()
        self.ami = LabAmi(self.lab.provider, "phone", self.ami_secret)
        self.ami.connect()
        self.ami.wait_fully_booted()
        return self

    def call(self, line: str, extension: str) -> None:
        """Call `extension` on the PBX from `line`; the phone plays a milliwatt tone."""
        assert self.ami is not None
        reply = self.ami.action(
            {
                "Action": "Originate",
                "Channel": f"PJSIP/{extension}@{line}",
                "Application": "Milliwatt",
                "Data": "o",
                "Async": "true",
            }
        )
        assert reply[0].get("Response") == "Success", reply

    def channels(self) -> list[str]:
        assert self.ami is not None
        reply = self.ami.action({"Action": "CoreShowChannels"})
        return [m["Channel"] for m in reply if m.get("Event") == "CoreShowChannel"]

    def hangup_all(self) -> None:
        assert self.ami is not None
        for channel in self.channels():
            self.ami.action({"Action": "Hangup", "Channel": channel})
        wait_until(lambda: not self.channels(), 10, what="the phone's calls to end")

    def registered(self) -> bool:
        assert self.ami is not None
        reply = self.ami.action({"Action": "PJSIPShowRegistrationsOutbound"})
        return any(
            m.get("Status") == "Registered"
            for m in reply
            if m.get("Event") == "OutboundRegistrationDetail"
        )

    def stop(self) -> None:
        if self.ami is not None:
            self.ami.close()
        if self.asterisk is not None:
            self.asterisk.stop()
