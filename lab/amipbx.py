"""A lab PBX for the AMI/metrics tests and benchmarks: a real Asterisk 22 in the pod, sipp phones
(doorbell namespace, IPv4) and a sipp provider (registrar, far ends; IPv6), and the supervisor's
AMI client, state, collector and HTTP server running inside the pod's network namespace.

The manager.conf user is the renderer's (supervisor/render): the classes and event filters under
test are the ones the product ships. The rest is hand-written because the tests need what a site
description cannot express: a 20 s registration expiry (the site model's minimum is 60 s) so that
a dead registrar shows within 20 s, and far ends that answer, are busy or never answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from lab import minimal, proc, sipp
from lab.ami import NetnsLoop
from lab.asterisk import Asterisk, write_config
from lab.harness import LabHarness
from lab.netns import DOORBELL_V4, POD_V4, POD_V6, PROVIDER_V6
from lab.paths import SCENARIOS
from supervisor import http
from supervisor.ami.client import AmiClient, AmiSettings
from supervisor.ami.state import AsteriskState
from supervisor.app import AmiSlice, build_ami, build_core
from supervisor.metrics.asterisk import AsteriskCollector
from supervisor.render.context import RenderContext
from supervisor.render.core import render_manager

T = TypeVar("T")

TRUNKS = {"provider": "provider"}  # trunk endpoint -> trunk name, as the site model gives it
TRUNK_USER = "pod1"
CLIENT_URI = f"sip:{TRUNK_USER}@[{PROVIDER_V6}]:5060"
SERVER_URI = f"sip:[{PROVIDER_V6}]:5060"

# Far ends: (namespace host, address, port, scenario, pause ms before answering/after).
PHONES = {
    "phone1": ("doorbell", DOORBELL_V4, 5071, "uas_answer.xml", 1500),  # answers after 1.5 s
    "phone2": ("doorbell", DOORBELL_V4, 5072, "uas_busy.xml", 0),
    "phone3": ("doorbell", DOORBELL_V4, 5073, "uas_ring.xml", 0),  # never answers
    "phone4": ("doorbell", DOORBELL_V4, 5074, "uas_options.xml", 0),  # answers qualify only
}
QUALIFIED = "phone4"  # the AOR qualified every second (reachability and RTT)
PROVIDER_FAR_ENDS = {
    "answer": ("provider", PROVIDER_V6, 5070, "uas_answer.xml", 500),
    "busy": ("provider", PROVIDER_V6, 5071, "uas_busy.xml", 0),
}

EXTENSIONS = """[general]
static = yes
writeprotect = yes

; The doorbell rings phones (internal) and, for the tests, dials out through the trunk.
[doorbell]
exten => 10,1,Dial(PJSIP/phone1,5)
exten => 11,1,Dial(PJSIP/phone2,5)
exten => 12,1,Dial(PJSIP/phone3,2)
exten => 20,1,Dial(PJSIP/provider/sip:20@[{provider}]:5070,5)
exten => 21,1,Dial(PJSIP/provider/sip:21@[{provider}]:5071,5)

; DIDs from the provider ring the phones.
[from-provider]
exten => 100,1,Dial(PJSIP/phone1,5)
exten => 101,1,Dial(PJSIP/phone2,5)
exten => 102,1,Dial(PJSIP/phone3,2)
"""


def pjsip_conf(password: str) -> str:
    phones = "".join(
        f"""
[{name}]
type = endpoint
transport = udp4
context = phones
disallow = all
allow = ulaw
direct_media = no
aors = {name}

[{name}]
type = aor
contact = sip:{name}@{address}:{port}
{"qualify_frequency = 1" if name == QUALIFIED else ""}
{"qualify_timeout = 0.5" if name == QUALIFIED else ""}
"""
        for name, (_, address, port, _, _) in PHONES.items()
    )
    system = "[system]\ntype = system\ntimer_t1 = 100\ntimer_b = 3200\n\n"
    # Expiry 20 s: a registrar that dies is noticed within about 20 s (the site model's minimum
    # is 60 s); refused registrations keep being retried.
    registration = minimal.provider_registration(
        TRUNK_USER,
        password,
        expiration=20,
        extra="forbidden_retry_interval = 5\nmax_retries = 100000\n",
    )
    return (
        system
        + minimal.GLOBAL_AND_TRANSPORTS
        + registration
        + f"""
[provider]
type = endpoint
transport = udp6
context = from-provider
disallow = all
allow = ulaw
direct_media = no
aors = provider

[provider]
type = aor
contact = sip:[{PROVIDER_V6}]:5070

[provider]
type = identify
endpoint = provider
match = {PROVIDER_V6}

[doorbell]
type = endpoint
transport = udp4
context = doorbell
disallow = all
allow = ulaw
direct_media = no

[doorbell]
type = identify
endpoint = doorbell
match = {DOORBELL_V4}
{phones}"""
    )


class TcpProxy:
    """A TCP relay the test controls, between the AMI client and Asterisk: `cut()` kills the
    live connections (a real mid-session loss) and `refuse` turns new ones away."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.refuse = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


class AmiLab(LabHarness):
    """Everything for one test module; `close()` tears it down."""

    def __init__(self, rootfs: Path) -> None:
        super().__init__(rootfs)
        self.ami_user, self.ami_secret = "supervisor", secrets.token_hex(16)
        self.all_user, self.all_secret = "unfiltered", secrets.token_hex(16)
        self.trunk_password = secrets.token_hex(8)
        files = minimal.config(
            self.run, self.ami_user, self.ami_secret, TRUNK_USER, self.trunk_password
        )
        manager = render_manager(
            RenderContext(ami_secret=self.ami_secret, ami_username=self.ami_user)
        )
        # A second user with every class and no filter: the "without" side of the event count.
        manager += (
            f"\n[{self.all_user}]\nsecret = {self.all_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
            "permit = 127.0.0.1/255.255.255.255\nread = all\nwrite = system\n"
        )
        files.update(
            {
                "manager.conf": manager,
                "pjsip.conf": pjsip_conf(self.trunk_password),
                "extensions.conf": EXTENSIONS.format(provider=PROVIDER_V6),
            }
        )
        write_config(self.run, files)
        sipp.install_scenarios(self.run)  # once: see _launch
        self.asterisk = Asterisk(self.lab, self.run)
        self.far_ends = {
            name: self._uas(name, *spec) for name, spec in {**PHONES, **PROVIDER_FAR_ENDS}.items()
        }
        self.registrar: sipp.Sipp | None = None
        self.loop = NetnsLoop(self.lab.pod)
        self.stoppers.append(self.loop.close)
        # The product's core and AMI slice (supervisor.app), logged in as this PBX's user.
        self.core = build_core(self.settings())
        self.registry = self.core.registry
        self.proxy = TcpProxy(5038)
        self.ami: AmiSlice | None = None
        self.client: AmiClient | None = None
        self.http: web.AppRunner | None = None
        self.http_port = 0
        self._task: asyncio.Task[Any] | None = None
        self._uacs = 0
        self._registrars = 0

    def _launch(self, process: sipp.Sipp) -> sipp.Sipp:
        """Start a sipp whose scenarios this PBX installed once."""
        process.process = proc.spawn(process.argv(), process.log)
        self.stoppers.append(process.stop)
        return process

    def _uas(
        self, name: str, host: str, address: str, port: int, scenario: str, pause: int
    ) -> sipp.Sipp:
        uas = sipp.Sipp(self.lab, self.run, host, [], name=f"uas-{name}")
        uas.args = ["-sf", uas.scenario(scenario), "-i", address, "-p", str(port)]
        uas.args += ["-m", "1000000", "-d", str(pause), "-t", "u1"]
        return self._launch(uas)

    def restart_far_end(self, name: str) -> None:
        self.far_ends[name].stop()
        self.far_ends[name] = self._uas(name, *{**PHONES, **PROVIDER_FAR_ENDS}[name])

    def start_registrar(self) -> sipp.Sipp:
        """The provider's registrar granting 20 s (Asterisk refreshes at the granted expiry, so
        a registrar that dies is noticed within about 20 s)."""
        template = (SCENARIOS / "registrar_short.xml").read_text()
        scenario = self.run.path("scenarios") / "registrar-short-lab.xml"
        scenario.write_text(
            template.replace("@USERNAME@", TRUNK_USER).replace("@PASSWORD@", self.trunk_password)
        )
        self._registrars += 1
        registrar = sipp.Sipp(
            self.lab, self.run, "provider", [], name=f"registrar-{self._registrars}"
        )
        registrar.args = ["-sf", self.run.inside(scenario), "-i", PROVIDER_V6, "-p", "5060"]
        registrar.args += ["-t", "u1", "-m", "1000000"]
        self.registrar = self._launch(registrar)
        return registrar

    def start_asterisk(self) -> None:
        self.asterisk.start()
        self.stoppers.append(self.asterisk.stop)

    def start_supervisor(self) -> None:
        """AMI client (through the proxy), collector and /metrics, all in the pod namespace."""

        async def start() -> None:
            await self.proxy.start()
            settings = AmiSettings(
                username=self.ami_user,
                secret=self.ami_secret,
                port=self.proxy.port,
                ping_interval=1.0,
                ping_timeout=1.0,
                backoff_initial=0.1,
                backoff_max=1.0,
            )
            self._start_slices(settings)
            self.http = await http.start(http.make_app(self.registry), "127.0.0.1", 0)
            self.http_port = http.bound_port(self.http)

        self.loop.run(start(), 10)
        self.stoppers.append(lambda: self.loop.run(self._stop_supervisor(), 10))

    def _start_slices(self, login: AmiSettings) -> None:
        """The product's AMI slice on `self.core` (on the loop), and its client's task."""
        self.ami = build_ami(self.core, login)
        self.ami.state.calls.set_trunks(TRUNKS)
        self.counting(self.ami)
        self.client = self.ami.client
        self._task = asyncio.create_task(self.client.run(), name="ami")

    def counting(self, ami: AmiSlice) -> None:
        """What counts calls: the product counts them from its durable record (build_records,
        lab.recordpbx); this harness checks the AMI state's own counts."""
        AsteriskCollector.register(self.registry, ami.state)

    async def _stop_supervisor(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.http is not None:
            await self.http.cleanup()
        await self.proxy.close()

    @property
    def state(self) -> AsteriskState:
        """The AMI slice's state (once start_supervisor() ran; read it on the loop)."""
        assert self.ami is not None, "start_supervisor() first"
        return self.ami.state

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the supervisor's loop thread (state is only touched there)."""

        async def call() -> T:
            return fn()

        return self.loop.run(call(), 10)

    def run_async(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return self.loop.run(coro, timeout)

    def value(self, name: str, **labels: str) -> float | None:
        return self.on_loop(lambda: self.registry.get_sample_value(name, labels))

    def wait_booted(self, timeout: float = 20) -> None:
        assert self.client is not None
        self.run_async(self.client.wait_fully_booted(timeout), timeout + 5)

    def call(
        self,
        source: str,
        extension: str,
        *,
        calls: int,
        hold_ms: int = 1000,
        name: str = "",
    ) -> sipp.Sipp:
        """`calls` concurrent calls from the doorbell (IPv4) or the provider (IPv6)."""
        if source == "doorbell":
            host, address, target = "doorbell", DOORBELL_V4, f"{POD_V4}:5060"
        else:
            host, address, target = "provider", PROVIDER_V6, f"[{POD_V6}]:5060"
        self._uacs += 1
        uac = sipp.Sipp(
            self.lab, self.run, host, [], name=name or f"uac-{source}-{extension}-{self._uacs}"
        )
        uac.args = [target, "-sf", uac.scenario("uac_any.xml"), "-s", extension]
        uac.args += ["-i", address, "-p", "0", "-m", str(calls), "-l", str(calls), "-r", "50"]
        uac.args += ["-d", str(hold_ms), "-timeout", "60s", "-timeout_error"]
        return self._launch(uac)
