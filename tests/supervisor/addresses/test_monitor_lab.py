"""The live monitor in the lab's pod namespace: netlink events, readiness, gating, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from prometheus_client import CollectorRegistry

from lab.netns import POD_V4, POD_V6, Lab, call_in
from lab.waits import until
from supervisor.addresses import AddressesNotUsable, AddressMonitor, ExpectedAddress
from tests.supervisor.addresses.helpers import EXPECTED, TRUNKS

pytestmark = pytest.mark.lab

T = TypeVar("T")


def in_pod(lab: Lab, scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an asyncio scenario on a thread inside the pod's namespace (as the supervisor runs)."""
    return call_in(lab.pod, lambda: asyncio.run(scenario()))


@contextlib.asynccontextmanager
async def running(monitor: AddressMonitor) -> Any:
    task = asyncio.create_task(monitor.run())
    try:
        yield monitor
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_removed_and_restored_at_runtime(lab: Lab) -> None:
    """Removal flips readiness and metrics within 2 s from netlink events; restoring recovers."""
    registry = CollectorRegistry()
    recovered: list[tuple[ExpectedAddress, ...]] = []

    async def on_recovered(addresses: tuple[ExpectedAddress, ...]) -> None:
        recovered.append(addresses)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"asterisk_supervisor_{name}", labels)

    async def scenario() -> tuple[float, float]:
        # A recheck interval far beyond the deadlines: only netlink events can meet them.
        monitor = AddressMonitor(
            expected=EXPECTED, trunks=TRUNKS, recheck_interval=60.0,
            on_recovered=on_recovered, registry=registry,
        )  # fmt: skip
        async with running(monitor):
            await monitor.wait_usable(5.0)
            assert sample("address_usable", address=POD_V6, family="ipv6") == 1.0
            assert sample("egress_source_correct", trunk="provider", family="ipv6") == 1.0
            assert sample("address_changes_total") == 0.0

            await asyncio.to_thread(lab.del_address, "pod", f"{POD_V6}/128")
            lost = await until(lambda: not monitor.all_required_usable, 2.0)
            assert sample("address_present", address=POD_V6, family="ipv6") == 0.0
            assert sample("address_usable", address=POD_V6, family="ipv6") == 0.0
            assert sample("address_usable", address=POD_V4, family="ipv4") == 1.0
            assert sample("egress_source_correct", trunk="provider", family="ipv6") == 0.0
            assert not recovered
            failing = [c.name for c in monitor.checks() if c.gates_readiness and not c.ok]
            assert failing == [f"address {POD_V6}"]

            await asyncio.to_thread(lab.add_address, "pod", f"{POD_V6}/128")
            back = await until(lambda: monitor.all_required_usable, 2.0)
            await until(lambda: recovered, 1.0)
            assert recovered == [(EXPECTED[0],)]
            assert sample("address_usable", address=POD_V6, family="ipv6") == 1.0
            assert sample("egress_source_correct", trunk="provider", family="ipv6") == 1.0
            changes = sample("address_changes_total")
            assert changes is not None
            assert changes >= 2.0
            return lost, back

    lost, back = in_pod(lab, scenario)
    print(f"readiness false {lost * 1000:.0f} ms after removal, true {back * 1000:.0f} ms after")


def test_tentative_address_gates_start_until_dad_completes(lab: Lab) -> None:
    """A tentative address (DAD stalled: no carrier) fails gating; carrier fixes it."""
    # A second veth pair inside the pod: with its peer down, dad0 has no carrier, so DAD waits.
    lab.run("pod", ["ip", "link", "add", "dad0", "type", "veth", "peer", "name", "dad1"])
    lab.run("pod", ["ip", "link", "set", "dad0", "up"])
    lab.del_address("pod", f"{POD_V6}/128")
    lab.add_address("pod", f"{POD_V6}/128", dev="dad0", nodad=False)

    async def scenario() -> float:
        monitor = AddressMonitor(expected=EXPECTED, recheck_interval=60.0)
        async with running(monitor):
            with pytest.raises(AddressesNotUsable, match=f"{POD_V6} tentative on dad0"):
                await monitor.wait_usable(0.5)
            report = monitor.report
            assert report is not None
            status = report.status_of(EXPECTED[0].address)
            assert status is not None
            assert (status.present, status.tentative, status.bindable) == (True, True, False)

            start = time.monotonic()
            await asyncio.to_thread(lab.run, "pod", ["ip", "link", "set", "dad1", "up"])
            await monitor.wait_usable(10.0)
            return time.monotonic() - start

    took = in_pod(lab, scenario)
    print(f"usable {took:.2f} s after carrier came up")


def test_recovery_callback_failure_does_not_stop_monitoring(lab: Lab) -> None:
    """A recovery hook that raises is logged; the monitor keeps tracking the address."""
    calls: list[int] = []

    async def failing(_addresses: tuple[ExpectedAddress, ...]) -> None:
        calls.append(1)
        raise RuntimeError("reload failed")

    async def scenario() -> None:
        hook: Callable[[tuple[ExpectedAddress, ...]], Awaitable[None]] = failing
        monitor = AddressMonitor(expected=EXPECTED, recheck_interval=60.0, on_recovered=hook)
        async with running(monitor):
            await monitor.wait_usable(5.0)
            for _ in range(2):
                await asyncio.to_thread(lab.del_address, "pod", f"{POD_V4}/32")
                await until(lambda: not monitor.all_required_usable, 2.0)
                await asyncio.to_thread(lab.add_address, "pod", f"{POD_V4}/32")
                await until(lambda: monitor.all_required_usable, 2.0)
            await until(lambda: len(calls) == 2, 1.0)

    in_pod(lab, scenario)


def test_unchanged_state_is_logged_once(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    """Many rechecks of an unchanged state log it once; a change logs the transition once."""
    caplog.set_level(logging.INFO, logger="supervisor.addresses")

    async def scenario() -> None:
        monitor = AddressMonitor(expected=EXPECTED, trunks=TRUNKS, recheck_interval=0.02)
        async with running(monitor):
            await monitor.wait_usable(5.0)
            await asyncio.sleep(0.3)  # ~15 periodic rechecks
            await asyncio.to_thread(lab.del_address, "pod", f"{POD_V4}/32")
            await until(lambda: not monitor.all_required_usable, 2.0)
            await asyncio.sleep(0.3)

    in_pod(lab, scenario)
    about_v4 = [r.getMessage() for r in caplog.records if f"address {POD_V4} " in r.getMessage()]
    assert about_v4 == [
        f"address {POD_V4} (ipv4): usable on eth0/32",
        f"address {POD_V4} (ipv4): usable on eth0/32 -> missing",
    ]
