"""One real Asterisk in the lab for a whole test module (the reload tests, bench_reload),
configured by the real site loader and renderer from kubelet-style mounts, reloaded through the
real AMI client (running on a loop inside the pod's network namespace, where AMI listens on
127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from lab import netns, sipp, sites
from lab.ami import LabAmi, NetnsLoop
from lab.asterisk import Asterisk
from lab.harness import LabHarness
from lab.kubelet import write_mount
from supervisor.ami.client import AmiClient
from supervisor.ami.types import AmiError, Message
from supervisor.app import build_ami, build_applier, build_core
from supervisor.live import LiveConfig
from supervisor.reload import Applier, Config
from supervisor.reload.applier import RestartHook
from supervisor.reload.restart import PendingRestart
from supervisor.site.mounts import Mount


class CrossLoopAmi:
    """AmiActions for the test's loop, forwarding to the real AmiClient on the pod's loop."""

    def __init__(self, client: AmiClient, loop: NetnsLoop) -> None:
        self.client = client
        self.loop = loop

    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        future = self.loop.submit(self.client.action(action, timeout=timeout))
        return await asyncio.wrap_future(future)


class NotConnected:
    """Before Asterisk starts there is no AMI (prepare() does not use it)."""

    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        raise AmiError("not connected")


class Published:
    """A live-config subscriber that hands each applied config to a test's callback."""

    def __init__(self, callback: Callable[[Config], None]) -> None:
        self.callback = callback

    def on_config(self, config: Config) -> None:
        self.callback(config)


class LabPbx(LabHarness):
    def __init__(self, rootfs: Path, mounts: Path) -> None:
        super().__init__(rootfs)
        self.site = mounts / "site"
        self.secrets = mounts / "secrets"
        # The product's core for this run's directories (supervisor.app): one render context
        # (and AMI secret) for the PBX's life, so every applier renders the same manager.conf.
        self.core = build_core(self.settings(config=(self.site,), secrets=(self.secrets,)))
        self.context = self.core.context
        self.ami_secret = self.context.ami_secret
        self.password = secrets.token_hex(8)
        self.set_site(sites.home())
        self.set_password(self.password)
        self.registrar: sipp.Sipp | None = None
        self.asterisk = Asterisk(self.lab, self.run)
        self.ami: LabAmi | None = None
        self.client: AmiClient | None = None
        self.pod_loop: NetnsLoop | None = None

    @property
    def etc(self) -> Path:
        return self.run.path("etc")

    def build(self, config: Sequence[Mount], secrets: Sequence[Mount]) -> Config:
        return sites.builder(self.context).build(config, secrets, "test")

    def set_site(self, site: dict[str, Any]) -> None:
        write_mount(self.site, sites.site_files(site))

    def set_password(self, password: str) -> None:
        write_mount(self.secrets, sites.secrets(password), mode=0o600)

    def applier(
        self,
        registry: CollectorRegistry | None = None,
        *,
        ami: Any = None,
        on_restart_required: RestartHook = lambda _reasons: None,
        factory: type[Applier] = Applier,
        on_applied: Callable[[Config], None] = lambda _config: None,
    ) -> Applier:
        """The product's applier (supervisor.app.build_applier) over `ami` (the PBX's client on
        the pod's loop by default), on a core of its own sharing the PBX's render context: a
        fresh `registry`, and restart reasons and live configs only to this test's hooks."""
        if ami is None:
            assert self.client is not None
            assert self.pod_loop is not None
            ami = CrossLoopAmi(self.client, self.pod_loop)
        core = dataclasses.replace(
            self.core,
            registry=registry or CollectorRegistry(),
            live=LiveConfig(),
            pending_restart=PendingRestart(),
        )
        core.pending_restart.subscribe(on_restart_required)
        core.live.subscribe(Published(on_applied))
        return build_applier(core, ami, factory=factory)

    def start(self) -> LabPbx:
        self.start_registrar(self.password)
        # What the entrypoint does: write the whole config, then start Asterisk on it.
        self.applier(ami=NotConnected()).prepare()
        self.asterisk.start()
        self.stoppers.append(self.asterisk.stop)
        self.pod_loop = NetnsLoop(self.lab.pod)
        self.stoppers.append(self.pod_loop.close)
        # The product's AMI slice, logged in as this boot's user (the render context's).
        self.client = build_ami(self.core).client
        self.pod_loop.run(self._start_client())
        self.stoppers.append(lambda: self.pod_loop and self.pod_loop.run(self._stop_client(), 10))
        self.pod_loop.run(self.client.wait_fully_booted(20), 25)
        # The test's own eyes: a second session of the same user.
        self.ami = LabAmi(self.lab.pod, self.context.ami_username, self.ami_secret)
        self.stoppers.append(self.ami.close)
        self.ami.connect()
        return self

    def restart_asterisk(self) -> None:
        """Stop Asterisk and start it again on the files on disk (what the entrypoint does for a
        restart-required change); wait until the AMI client saw FullyBooted again."""
        assert self.pod_loop is not None
        assert self.client is not None
        self.asterisk.stop()
        self.asterisk = Asterisk(self.lab, self.run).start()
        self.stoppers.append(self.asterisk.stop)
        self.pod_loop.run(self._wait_rebooted(), 30)
        if self.ami is not None:
            self.ami.close()
        self.ami = LabAmi(self.lab.pod, self.context.ami_username, self.ami_secret)
        self.stoppers.append(self.ami.close)
        self.ami.connect()

    async def _wait_rebooted(self) -> None:
        assert self.client is not None
        while self.client.fully_booted.is_set():  # the old session's end
            await asyncio.sleep(0.05)
        await self.client.wait_fully_booted(25)

    def transport_bind(self, endpoint: str) -> str:
        assert self.ami is not None
        reply = self.ami.action({"Action": "PJSIPShowEndpoint", "Endpoint": endpoint})
        return next(m["Bind"] for m in reply if m.get("Event") == "TransportDetail")

    async def _start_client(self) -> None:
        assert self.client is not None
        self._client_task = asyncio.create_task(self.client.run(), name="ami")

    async def _stop_client(self) -> None:
        self._client_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._client_task

    def start_registrar(self, password: str) -> sipp.Sipp:
        if self.registrar is not None:
            self.registrar.stop()
        self.registrar = sipp.registrar(self.lab, self.run, netns.PROVIDER_V6, "pod1", password)
        self.stoppers.append(self.registrar.stop)
        return self.registrar

    def endpoints(self) -> list[str]:
        assert self.ami is not None
        reply = self.ami.action({"Action": "PJSIPShowEndpoints"})
        return sorted(m["ObjectName"] for m in reply if m.get("Event") == "EndpointList")

    def cli(self, command: str) -> str:
        """A command on Asterisk's console socket (the supervisor's AMI user may not run
        ShowDialPlan: its write= grants `system` only)."""
        conf = self.run.inside(self.etc / "asterisk.conf")
        argv = ["chroot", str(self.run.rootfs), "/usr/sbin/asterisk", "-C", conf, "-rx", command]
        return self.lab.run("pod", argv).stdout

    def extension(self, exten: str, context: str) -> list[str]:
        """The applications of one extension, from `dialplan show`."""
        out = self.cli(f"dialplan show {exten}@{context}")
        return re.findall(r"^\s*(?:'[^']*' =>)?\s*\d+\.\s+(\w+)\(", out, re.MULTILINE)

    def stop(self) -> None:
        self.close()
