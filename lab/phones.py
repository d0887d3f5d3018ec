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


class Phones:
    def __init__(self, lab: Lab, run: RunDir) -> None:
        self.lab, self.run = lab, run
        self.processes: list[sipp.Sipp] = []

    def _address(self) -> None:
        if PHONES_V6 in self.lab.run("provider", ["ip", "-6", "addr", "show"]).stdout:
            return
        self.lab.add_address("provider", f"{PHONES_V6}/128")
        self.lab.run("router", ["ip", "-6", "route", "replace", f"{PHONES_V6}/128", "dev", "prov0"])

    def start_ringer(self) -> None:
        self._address()
        # Answers after 0.3 s and talks (a PCMU tone) until the caller hangs up; -aa answers
        # qualify OPTIONS.
        ringer = sipp.Sipp(self.lab, self.run, "provider", [], name="ringer")
        ringer.args = ["-sf", ringer.scenario("uas_answer_audio.xml"), "-i", PHONES_V6]
        ringer.args += ["-p", str(RINGER_PORT), "-mp", str(RINGER_MEDIA_PORT), "-aa"]
        ringer.args += ["-d", "300", "-m", "1000000"]
        ringer.start()
        self.processes.append(ringer)

    def register(self, accounts: Mapping[str, str], timeout_s: int = 15) -> None:
        """Register each `username: password` account; raises if one is refused."""
        template = (SCENARIOS / "phone-register.xml").read_text()
        scenario = self.run.path("scenarios") / "phone-register-lab.xml"
        scenario.parent.mkdir(exist_ok=True)
        scenario.write_text(template.replace("@CONTACT_PORT@", str(RINGER_PORT)))
        for username, password in accounts.items():
            phone = sipp.Sipp(
                self.lab,
                self.run,
                "provider",
                [
                    f"[{netns.POD_V6}]:5060",
                    "-sf",
                    self.run.inside(scenario),
                    "-s",
                    username,
                    "-au",
                    username,
                    "-ap",
                    password,
                    "-i",
                    PHONES_V6,
                    "-p",
                    "0",
                    "-m",
                    "1",
                    "-timeout",
                    f"{timeout_s}s",
                    "-timeout_error",
                ],
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
    Phones(lab, run)._address()
    files = run.path("tls")
    files.mkdir(exist_ok=True)
    (files / f"{name}.crt").write_text(cert.cert_pem)
    (files / f"{name}.key").write_text(cert.key_pem)
    template = (SCENARIOS / "phone-tls-call.xml").read_text()
    scenario = run.path("scenarios") / f"{name}.xml"
    scenario.parent.mkdir(exist_ok=True)
    scenario.write_text(template.replace("@EXTENSION@", extension))
    return sipp.Sipp(
        lab,
        run,
        "provider",
        [
            f"[{netns.POD_V6}]:{port}",
            "-sf",
            run.inside(scenario),
            "-t",
            "l1",
            "-tls_cert",
            run.inside(files / f"{name}.crt"),
            "-tls_key",
            run.inside(files / f"{name}.key"),
            "-s",
            username,
            "-au",
            username,
            "-ap",
            password,
            "-i",
            PHONES_V6,
            "-p",
            "0",
            "-m",
            "1",
            "-d",
            str(hold_ms),
            "-timeout",
            f"{timeout_s}s",
            "-timeout_error",
        ],
        name=name,
    ).start()
