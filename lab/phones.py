"""Desk phones for the lab: sipp registers each phone's account with the PBX (digest auth) and a
sipp UAS plays their ringer (answers INVITEs and talks: RTP both ways; answers qualify OPTIONS).
They live on a second address of the provider namespace, so the phones are reached over IPv6 like
the trunk."""

from __future__ import annotations

from collections.abc import Mapping

from lab import netns, sipp
from lab.asterisk import RunDir
from lab.netns import Lab
from lab.paths import SCENARIOS
from lab.pki import Issued

PHONES_V6 = "2001:db8:5060::21"
RINGER_PORT = 5062
RINGER_MEDIA_PORT = 16000  # the ringer sends its RTP from here (unique in the provider namespace)
TLS_RINGER_PORT = 5063
TLS_RINGER_MEDIA_PORT = 16002


class Phones:
    def __init__(self, lab: Lab, run: RunDir) -> None:
        self.lab, self.run = lab, run
        self.processes: list[sipp.Sipp] = []

    def _address(self) -> None:
        if PHONES_V6 in self.lab.run("provider", ["ip", "-6", "addr", "show"]).stdout:
            return
        self.lab.add_address("provider", f"{PHONES_V6}/128")
        self.lab.run("router", ["ip", "-6", "route", "replace", f"{PHONES_V6}/128", "dev", "prov0"])

    def start_ringer(self, tls: Issued | None = None) -> None:
        """The phones' ringer on UDP (or, with a certificate, on TLS at TLS_RINGER_PORT)."""
        self._address()
        # Answers after 0.3 s and talks (a PCMU tone) until the caller hangs up; -aa answers
        # qualify OPTIONS.
        name = "tls-ringer" if tls is not None else "ringer"
        port, media = (RINGER_PORT, RINGER_MEDIA_PORT)
        if tls is not None:
            port, media = (TLS_RINGER_PORT, TLS_RINGER_MEDIA_PORT)
        ringer = sipp.Sipp(self.lab, self.run, "provider", [], name=name)
        ringer.args = ["-sf", ringer.scenario("uas_answer_audio.xml"), "-i", PHONES_V6]
        ringer.args += ["-p", str(port), "-mp", str(media), "-aa"]
        ringer.args += ["-d", "300", "-m", "1000000"]
        if tls is not None:
            ringer.args += sipp.tls_args(self.run, "tls-ringer", tls)
        ringer.start()
        self.processes.append(ringer)

    def register(
        self, accounts: Mapping[str, str], timeout_s: int = 15, *, tls: Issued | None = None
    ) -> None:
        """Register each `username: password` account; raises if one is refused. With a
        certificate: over TLS to port 5061, the contact being the TLS ringer."""
        template = (SCENARIOS / "phone-register.xml").read_text()
        kind = "tls" if tls is not None else "udp"
        contact = f"{TLS_RINGER_PORT};transport=tls" if tls is not None else str(RINGER_PORT)
        scenario = self.run.path("scenarios") / f"phone-register-lab-{kind}.xml"
        scenario.parent.mkdir(exist_ok=True)
        scenario.write_text(template.replace("@CONTACT_PORT@", contact))
        target = f"[{netns.POD_V6}]:{5061 if tls is not None else 5060}"
        transport = sipp.tls_args(self.run, "tls-phone", tls) if tls is not None else []
        for username, password in accounts.items():
            phone = sipp.Sipp(
                self.lab,
                self.run,
                "provider",
                sipp.phone_args(
                    target,
                    self.run.inside(scenario),
                    service=username,
                    user=username,
                    password=password,
                    source=PHONES_V6,
                    timeout_s=timeout_s,
                    extra=transport,
                ),
                name=f"register-{username}",
            ).start()
            self.processes.append(phone)
            if phone.wait(timeout_s + 5) != 0:
                raise RuntimeError(
                    f"phone {username} could not register:\n{phone.output()[-1500:]}"
                )

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def tls_phone(
    lab: Lab,
    run: RunDir,
    username: str,
    password: str,
    extension: str,
    cert: Issued,
    *,
    hold_ms: int,
    port: int = 5061,
    timeout_s: int = 60,
    name: str = "tls-phone",
) -> sipp.Sipp:
    """A desk phone over TLS (sipp -t l1 with its own certificate): registers, calls
    `extension`, holds the answered call for `hold_ms` and hangs up, all on one connection."""
    helper = Phones(lab, run)
    helper._address()
    transport = sipp.tls_args(run, name, cert)
    template = (SCENARIOS / "phone-tls-call.xml").read_text()
    scenario = run.path("scenarios") / f"{name}.xml"
    scenario.parent.mkdir(exist_ok=True)
    scenario.write_text(template.replace("@EXTENSION@", extension))
    return sipp.Sipp(
        lab,
        run,
        "provider",
        sipp.phone_args(
            f"[{netns.POD_V6}]:{port}",
            run.inside(scenario),
            service=username,
            user=username,
            password=password,
            source=PHONES_V6,
            timeout_s=timeout_s,
            extra=[*transport, "-d", str(hold_ms)],
        ),
        name=name,
    ).start()
