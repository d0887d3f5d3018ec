"""sipp from the lab root filesystem, by chroot in a lab namespace: the provider's registrar and
UAS, and the doorbell's calls."""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from lab import audio, proc
from lab.asterisk import RunDir
from lab.netns import Lab
from lab.paths import SCENARIOS
from lab.pki import Issued

QUOTES = {'"': "&quot;", "'": "&apos;"}


#: Seconds of tone in audio.pcap, which the *_audio scenarios play: longer than any lab call (sipp
#: stops a play when its call ends).
AUDIO_SECONDS = 60


def install_scenarios(run: RunDir) -> Path:
    """Copy the lab's scenarios, and the audio they play, where the chrooted sipp can read them."""
    target = run.path("scenarios")
    target.mkdir(exist_ok=True)
    files = {xml.name: xml.read_bytes() for xml in SCENARIOS.glob("*.xml")}
    files["audio.pcap"] = audio.tone_pcap_cached(AUDIO_SECONDS)
    for name, content in files.items():
        dest = target / name
        if dest.exists() and dest.read_bytes() == content:
            continue
        # Atomic: a sipp starting meanwhile must never read a half-written scenario.
        tmp = dest.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_bytes(content)
        tmp.replace(dest)
    return target


@dataclass
class Sipp:
    """One sipp process; its screen output and error log land in the run directory."""

    lab: Lab
    run: RunDir
    host: str
    args: list[str]
    name: str = "sipp"
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.run.path("log") / f"{self.name}.out"

    def argv(self) -> list[str]:
        errors = self.run.inside(self.run.path("log") / f"{self.name}.errors")
        return self.lab.netns_exec(
            self.host,
            [
                "chroot",
                str(self.run.rootfs),
                "sipp",
                *self.args,
                "-nostdin",
                "-trace_err",
                "-error_file",
                errors,
            ],
        )

    def start(self) -> Sipp:
        install_scenarios(self.run)
        self.process = proc.spawn(self.argv(), self.log)
        return self

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def scenario(self, name: str) -> str:
        return self.run.inside(self.run.path("scenarios") / name)


def tls_args(run: RunDir, name: str, cert: Issued) -> list[str]:
    """sipp's TLS arguments with `cert` as its own certificate (written where the chroot reads
    it): sipp needs one as a client too."""
    files = run.path("tls")
    files.mkdir(exist_ok=True)
    (files / f"{name}.crt").write_text(cert.cert_pem)
    (files / f"{name}.key").write_text(cert.key_pem)
    return [
        "-t",
        "l1",
        "-tls_cert",
        run.inside(files / f"{name}.crt"),
        "-tls_key",
        run.inside(files / f"{name}.key"),
    ]


def registrar(
    lab: Lab,
    run: RunDir,
    address: str,
    username: str,
    password: str,
    port: int = 5060,
    *,
    transport: list[str] | None = None,
) -> Sipp:
    """A digest-auth registrar in the provider namespace (IPv6, UDP; or `transport`, e.g.
    sipp's TLS arguments `-t l1 -tls_cert ... -tls_key ...`)."""
    sipp = Sipp(lab, run, "provider", [], name=f"registrar-{port}")
    # verifyauth takes literal credentials (sipp refuses its authentication keywords in a UAS).
    template = (SCENARIOS / "registrar.xml").read_text()
    scenario = run.path("scenarios") / f"registrar-{port}.xml"
    scenario.parent.mkdir(exist_ok=True)
    scenario.write_text(
        template.replace("@USERNAME@", xml_escape(username, QUOTES)).replace(
            "@PASSWORD@", xml_escape(password, QUOTES)
        )
    )
    sipp.args = [
        "-sf",
        run.inside(scenario),
        "-i",
        address,
        "-p",
        str(port),
        *(transport if transport is not None else ["-t", "u1"]),
        "-m",
        "1000000",
    ]
    return sipp.start()


def call(
    lab: Lab,
    run: RunDir,
    host: str,
    source: str,
    target: str,
    extension: str,
    *,
    calls: int = 1,
    hold_ms: int = 1000,
    timeout_s: int = 30,
    name: str = "uac",
    scenario: str | None = None,
    extra: list[str] | None = None,
) -> Sipp:
    """Place `calls` calls with sipp's built-in UAC (INVITE, 200, ACK, hold, BYE) or a scenario."""
    sipp = Sipp(lab, run, host, [], name=name)
    install_scenarios(run)
    chosen = ["-sf", sipp.scenario(scenario)] if scenario else ["-sn", "uac"]
    sipp.args = [
        target,
        *chosen,
        "-s",
        extension,
        "-i",
        source,
        "-p",
        "0",
        "-m",
        str(calls),
        "-l",
        "1",
        "-d",
        str(hold_ms),
        "-timeout",
        f"{timeout_s}s",
        "-timeout_error",
        *(extra or []),
    ]
    return sipp.start()


def phone_args(
    target: str,
    scenario: str,
    *,
    service: str,
    user: str,
    password: str,
    source: str,
    timeout_s: float,
    extra: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """A phone's sipp arguments: `scenario` toward `target` (HOST:PORT) with `service` as the
    request user, digest auth as `user`, from `source` on any port, one call, an error after
    `timeout_s`; `extra`: transport, hold time, traces."""
    return [
        target,
        "-sf",
        scenario,
        "-s",
        service,
        "-au",
        user,
        "-ap",
        password,
        "-i",
        source,
        "-p",
        "0",
        "-m",
        "1",
        *extra,
        "-timeout",
        f"{timeout_s:g}s",
        "-timeout_error",
    ]
