"""Live reload against a real Asterisk 22 in the lab: kubelet swaps go live, bad input keeps the
last good config (checked over AMI), a Secret change re-registers, churn and calls survive."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from lab import netns, sipp, sites
from lab.asterisk import wait_until
from lab.kubelet import write_mount
from lab.reloadpbx import LabPbx
from supervisor.reload import Reloader
from supervisor.site.mounts import Mount, content_hash, read_mount

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def pbx(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabPbx]:
    the_pbx = LabPbx(rootfs, tmp_path_factory.mktemp("mounts"))
    try:
        yield the_pbx.start()
    finally:
        the_pbx.stop()


@pytest.fixture
async def baseline(pbx: LabPbx) -> LabPbx:
    """Every test starts from the same live config."""
    pbx.set_site(sites.home())
    pbx.set_password(pbx.password)
    result = await pbx.applier().apply()
    assert result.outcome in ("applied", "unchanged"), result.problems
    return pbx


@contextlib.asynccontextmanager
async def running(pbx: LabPbx, registry: CollectorRegistry, debounce: float):  # type: ignore[no-untyped-def]
    booted = asyncio.Event()
    booted.set()
    applier = pbx.applier(registry)
    await applier.apply()
    reloader = Reloader(applier=applier, booted=booted, debounce=debounce, resync=60)
    task = asyncio.create_task(reloader.run(), name="reload")
    try:
        yield applier
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def to_bytes(files: dict[str, str]) -> dict[str, bytes]:
    return {k: v.encode() for k, v in files.items()}


async def until(predicate: object, timeout: float, what: str) -> None:
    await asyncio.to_thread(wait_until, predicate, timeout, 0.05, what)


async def test_configmap_swap_adds_an_endpoint(baseline: LabPbx) -> None:
    """An endpoint added by a ConfigMap swap appears in PJSIPShowEndpoints."""
    registry = CollectorRegistry()
    async with running(baseline, registry, debounce=0.2):
        baseline.set_site(sites.home("bob"))
        await until(lambda: "bob" in baseline.endpoints(), 5, "bob in PJSIPShowEndpoints")
        await until(
            lambda: registry.get_sample_value("asterisk_supervisor_last_reload_successful") == 1,
            5,
            "verified",
        )
    assert registry.get_sample_value(
        "asterisk_supervisor_reloads_total", {"module": "res_pjsip.so"}
    )
    assert (
        registry.get_sample_value("asterisk_supervisor_reloads_total", {"module": "pbx_config.so"})
        is None
    )


async def test_dialplan_change_shows(baseline: LabPbx) -> None:
    """A dialplan change from the ConfigMap shows in the dialplan Asterisk runs."""
    baseline.set_site(sites.with_extension(sites.home(), "13", "kitchen"))
    result = await baseline.applier().apply()
    assert result.outcome == "applied", result.problems
    assert result.modules == ("pbx_config.so",)
    apps = baseline.extension("13", "extensions")
    # The phone's ring (its feature subroutine), then the voicemail fallback the renderer adds
    # (a box per endpoint), then Hangup.
    assert apps[:3] == ["Set", "Set", "Gosub"]
    assert apps[-1] == "Hangup"


BASE = ["desk", "doorbell", "kitchen", "provider"]
REFUSED = "[bob]\ntype = endpoint\ncontext = internal\ndtmf_mode = bogus\n"
BAD = {
    "invalid yaml": ({"site.yaml": "endpoints: [bob\n"}, {}),
    "schema error": ({"site.yaml": "endpoints: {bob: 1}\n"}, {}),
    "binary file": ({"site.yaml": b"endpoints: [bob]\n\x00\xff"}, {}),
    "oversized file": ({"site.yaml": "endpoints: [bob]\n" + "#" * 70_000}, {}),
    "symlink outside": ({}, {"site.yaml": "/etc/hostname"}),
    "unreadable file": ({}, {"site.yaml": "gone.yaml"}),
    # Valid for the model, refused by res_pjsip (which still answers Success to the reload).
    "refused by asterisk": (
        sites.site_files(sites.home(raw={"pjsip.conf": REFUSED, "extensions.conf": sites.HOLD})),
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_input_keeps_the_last_good_config(baseline: LabPbx, case: str) -> None:
    """Bad input: one error, a failure count, last_reload_successful=0, Asterisk still runs the
    previous config; then a fixed config applies."""
    files, links = BAD[case]
    registry = CollectorRegistry()
    applier = baseline.applier(registry)
    await applier.apply()
    write_mount(baseline.site, files, symlinks=links)
    result = await applier.apply()
    assert result.outcome in ("rejected", "failed")
    assert result.problems
    assert registry.get_sample_value("asterisk_supervisor_last_reload_successful") == 0
    assert (
        registry.get_sample_value("asterisk_supervisor_config_apply_operations_failed_total") == 1
    )
    assert baseline.endpoints() == BASE
    assert "[bob]" not in (baseline.etc / "pjsip.conf").read_text()
    baseline.set_site(sites.home("carol"))
    fixed = await applier.apply()
    assert fixed.outcome == "applied", fixed.problems
    assert baseline.endpoints() == sorted([*BASE, "carol"])
    assert registry.get_sample_value("asterisk_supervisor_last_reload_successful") == 1


async def test_missing_secret_key_keeps_the_trunk(baseline: LabPbx) -> None:
    """A Secret without the password key is rejected; the registration stays configured."""
    applier = baseline.applier()
    await applier.apply()
    values = sites.secrets(baseline.password)
    del values["provider-password"]
    write_mount(baseline.secrets, values)
    result = await applier.apply()
    assert result.outcome == "rejected"
    assert any("provider-password" in p for p in result.problems), result.problems
    baseline.set_password(baseline.password)
    assert (await applier.apply()).outcome == "unchanged"  # back to what is live
    assert applier.state.last_error is None
    assert "provider" in str(
        baseline.ami and baseline.ami.action({"Action": "PJSIPShowRegistrationsOutbound"})
    )


def registered_after(pbx: LabPbx, since: int) -> bool:
    assert pbx.ami is not None
    return any(
        e.get("Event") == "Registry" and e.get("Status") == "Registered"
        for e in pbx.ami.events[since:]
    )


def listening(pbx: LabPbx) -> bool:
    out = pbx.lab.run("provider", ["ss", "-Hnul"], check=False).stdout
    return ":5060 " in out


async def test_secret_change_reregisters_with_the_new_password(baseline: LabPbx) -> None:
    """A Secret swap makes the trunk register at a registrar that accepts only the new password."""
    ami = baseline.ami
    assert ami is not None
    new = "n3w-" + baseline.password
    baseline.start_registrar(new)
    await until(lambda: listening(baseline), 5, "registrar listening")
    mark = len(ami.events)
    try:
        baseline.set_password(new)
        result = await baseline.applier().apply()
        assert result.outcome == "applied", result.problems
        try:
            await until(lambda: registered_after(baseline, mark), 15, "registered, new password")
        except TimeoutError:
            registrar = baseline.registrar.output()[-2000:] if baseline.registrar else ""
            raise AssertionError(f"{ami.events[mark:]}\n{registrar}") from None
    finally:
        baseline.start_registrar(baseline.password)
        await until(lambda: listening(baseline), 5, "registrar listening")


async def test_100_swaps_in_5_s_end_with_the_last_and_no_partial_file(baseline: LabPbx) -> None:
    """100 swaps in 5 s: exactly the last is live; no reader ever saw a partial pjsip.conf."""
    registry = CollectorRegistry()
    log_start = len(baseline.asterisk.problems())
    secret_mount = Mount(path=Path("secrets"), files=to_bytes(sites.secrets(baseline.password)))

    def rendered(i: int) -> str:
        config = Mount(path=Path("site"), files=to_bytes(sites.site_files(sites.home(f"s{i}"))))
        return baseline.build([config], [secret_mount]).files["pjsip.conf"]

    complete = {rendered(i) for i in range(100)}
    complete.add((baseline.etc / "pjsip.conf").read_text())
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        path = baseline.etc / "pjsip.conf"
        while not stop.is_set():
            seen.add(path.read_text())

    thread = threading.Thread(target=reader, name="partial-reader")
    thread.start()
    try:
        async with running(baseline, registry, debounce=0.05) as applier:
            start = time.monotonic()
            for i in range(100):
                baseline.set_site(sites.home(f"s{i}"))
                await asyncio.sleep(max(0, start + (i + 1) * 0.05 - time.monotonic()))
            assert time.monotonic() - start < 5.5
            await until(lambda: baseline.endpoints() == sorted([*BASE, "s99"]), 5, "last")
            last = content_hash([read_mount(baseline.site), read_mount(baseline.secrets)])
            await until(lambda: applier.state.live_hash == last, 5, "last hash live")
            await until(
                lambda: applier.state.live_hash is not None and applier.state.last_error is None,
                5,
                "ok",
            )
    finally:
        stop.set()
        thread.join()
    assert len(seen) >= 2  # the reader did see versions change under it
    assert seen <= complete, "a reader saw a file that is not one complete rendering"
    applies = registry.get_sample_value(
        "asterisk_supervisor_reloads_total", {"module": "res_pjsip.so"}
    )
    assert applies
    assert applies >= 2
    assert not registry.get_sample_value("asterisk_supervisor_config_apply_operations_failed_total")
    problems = [
        p
        for p in baseline.asterisk.problems()[log_start:]
        if "pjsip.conf" in p or "parse" in p.lower()
    ]
    assert problems == []


async def test_call_survives_10_reloads(baseline: LabPbx) -> None:
    """A call in progress stays up across 10 reloads of res_pjsip and pbx_config."""
    assert baseline.ami is not None
    call = sipp.call(
        baseline.lab,
        baseline.run,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:5060",
        "100",
        hold_ms=6000,
        name="long-call",
    )
    try:
        ami = baseline.ami

        def channels() -> list[str]:
            reply = ami.action({"Action": "CoreShowChannels"})
            return [m["Channel"] for m in reply if m.get("Event") == "CoreShowChannel"]

        await until(lambda: channels() != [], 5, "call up")
        first = channels()
        applier = baseline.applier()
        for i in range(10):
            baseline.set_site(sites.with_extension(sites.home(f"c{i}"), f"3{i}", "desk"))
            result = await applier.apply()
            assert result.outcome == "applied", result.problems
            assert set(result.modules) == {"res_pjsip.so", "pbx_config.so"}
            assert channels() == first
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(call.wait, 20) == 0, call.output()[-2000:]
    finally:
        call.stop()


async def test_transport_change_is_applied_by_a_restart(baseline: LabPbx) -> None:
    """A transport port change is written, reported as restart required (hook, metric, state)
    while Asterisk keeps the old bind; after a restart the new bind is live and the flag clears.
    (Last in the module: it restarts the shared Asterisk.)"""
    registry = CollectorRegistry()
    hook: list[tuple[str, ...]] = []
    applier = baseline.applier(registry, on_restart_required=hook.append)
    await applier.apply()
    applier.asterisk_started()  # what Asterisk runs now is the reference for restarts
    baseline.set_site(sites.with_port(sites.home(), "udp6", 5070))
    result = await applier.apply()
    assert result.outcome == "applied", result.problems
    assert [str(r).split(":")[0] for r in result.restart_required] == ["transport udp6 changed"]
    assert hook == [result.restart_required]
    assert registry.get_sample_value("asterisk_supervisor_restart_required") == 1
    assert baseline.transport_bind("provider").endswith("]:5060")  # not reloadable
    await asyncio.to_thread(baseline.restart_asterisk)
    applier.asterisk_started()
    assert hook[-1] == ()
    assert registry.get_sample_value("asterisk_supervisor_restart_required") == 0
    assert baseline.transport_bind("provider").endswith("]:5070")
    assert baseline.endpoints() == BASE
