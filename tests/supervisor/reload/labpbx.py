"""One real Asterisk in the lab for a whole test module, fed by kubelet-style mounts through the
reload pipeline (stand-in site behind the Loader/Renderer seams)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from lab import minimal, netns, sipp
from lab.ami import LabAmi
from lab.asterisk import Asterisk, RunDir
from lab.kubelet import write_mount
from lab.netns import Lab
from lab.rootfs import asterisk_ids
from supervisor.ami.types import AmiError, Message
from supervisor.reload import Applier, ConfigDir, ReloadMetrics
from tests.supervisor.reload import standin

RENDERED = ("pjsip.conf", "extensions.conf")


class LabAmiActions:
    """AmiActions over the lab's test-side AMI client (its own loop in the pod namespace)."""

    def __init__(self, ami: LabAmi) -> None:
        self.ami = ami

    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        try:
            return await asyncio.to_thread(self.ami.action, dict(action), timeout)
        except (TimeoutError, concurrent.futures.TimeoutError) as exc:
            raise AmiError(f"{action.get('Action')}: timed out") from exc


class NotConnected:
    """Before Asterisk starts there is no AMI (prepare() does not use it)."""

    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        raise AmiError("not connected")


class LabPbx:
    def __init__(self, rootfs: Path, mounts: Path) -> None:
        self.lab = Lab()
        self.stoppers: list[Any] = []
        self.lab.up()
        self.stoppers.append(self.lab.down)
        self.run = RunDir(rootfs, f"{self.lab.prefix}-run").create()
        self.stoppers.append(self.run.remove)
        self.site = mounts / "site"
        self.secrets = mounts / "secrets"
        self.ami_user, self.ami_secret = "supervisor", secrets.token_hex(16)
        self.password = secrets.token_hex(8)
        base = minimal.config(self.run, self.ami_user, self.ami_secret, "pod1", self.password)
        base["manager.conf"] = (
            base["manager.conf"]
            .replace("write = system,reporting", "write = system,config,reporting")
            .replace("read = system,call,reporting", "read = system,call,reporting,config")
        )
        self.base = {k: v for k, v in base.items() if k not in RENDERED}
        self.gid = asterisk_ids(rootfs)[1]
        self.set_site(["alice"])
        self.set_password(self.password)
        self.registrar: sipp.Sipp | None = None
        self.asterisk = Asterisk(self.lab, self.run)
        self.ami: LabAmi | None = None

    def render(self, site: standin.Site) -> dict[str, str]:
        return {**self.base, **standin.render(site)}

    def set_site(self, endpoints: Sequence[str], **kwargs: Any) -> None:
        write_mount(self.site, {"site.yaml": standin.site_yaml(endpoints, **kwargs)})

    def set_password(self, password: str) -> None:
        write_mount(self.secrets, {"trunk-password": password}, mode=0o600)

    def applier(self, registry: CollectorRegistry | None = None) -> Applier:
        assert self.ami is not None
        return Applier(
            config_mounts=[self.site],
            secret_mounts=[self.secrets],
            config_dir=ConfigDir(self.run.path("etc"), gid=self.gid),
            load=standin.load,
            render=self.render,
            ami=LabAmiActions(self.ami),
            metrics=ReloadMetrics(registry or CollectorRegistry()),
            restart_check=standin.restart_required,
            max_file_bytes=64 * 1024,
        )

    def start(self) -> LabPbx:
        self.start_registrar(self.password)
        # What the entrypoint does: write the config, then start Asterisk on it.
        first = Applier(
            config_mounts=[self.site],
            secret_mounts=[self.secrets],
            config_dir=ConfigDir(self.run.path("etc"), gid=self.gid),
            load=standin.load,
            render=self.render,
            ami=NotConnected(),
            metrics=ReloadMetrics(CollectorRegistry()),
        )
        first.prepare()
        self.asterisk.start()
        self.stoppers.append(self.asterisk.stop)
        self.ami = LabAmi(self.lab.pod, self.ami_user, self.ami_secret)
        self.stoppers.append(self.ami.close)
        self.ami.connect()
        self.ami.wait_fully_booted()
        return self

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

    def dialplan(self, context: str) -> dict[str, list[str]]:
        assert self.ami is not None
        reply = self.ami.action({"Action": "ShowDialPlan", "Context": context})
        out: dict[str, list[str]] = {}
        for m in reply:
            if m.get("Event") == "ListDialplan":
                out.setdefault(m["Extension"], []).append(m["Application"])
        return out

    def stop(self) -> None:
        errors = []
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
