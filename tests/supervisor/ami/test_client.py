"""AmiClient against a fake AMI speaking the real protocol: faults a real Asterisk can't stage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from lab.waits import until
from supervisor.ami.client import AmiClient, AmiSettings, backoff_delay
from supervisor.ami.state import AsteriskState
from supervisor.ami.types import AmiError
from tests.supervisor.ami.events import core_show_channel, hangup, newchannel
from tests.supervisor.ami.fake_ami import FakeAmi, list_reply

SECRET_PASSWORD = "trunk-password-never-seen"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi().start()
    try:
        yield server
    finally:
        await server.close()


def settings(port: int, **overrides: float) -> AmiSettings:
    values: dict[str, float] = {
        "ping_interval": 0.2,
        "ping_timeout": 0.2,
        "backoff_initial": 0.02,
        "backoff_max": 0.1,
        "action_timeout": 1.0,
        **overrides,
    }
    return AmiSettings(username="sup", secret="pw", port=port, **values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(client: AmiClient) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(client.run(), name="ami")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_backoff_grows_with_jitter_and_caps() -> None:
    """Delays double per attempt within [d/2, d] and stop growing at the maximum."""
    low = [backoff_delay(n, initial=1, maximum=8, rng=lambda: 0.0) for n in range(6)]
    high = [backoff_delay(n, initial=1, maximum=8, rng=lambda: 1.0) for n in range(6)]
    assert low == [0.5, 1, 2, 4, 4, 4]
    assert high == [1, 2, 4, 8, 8, 8]


async def test_login_resync_and_authdetail_never_surfaces(
    fake: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    """After login: FullyBooted, full re-sync into state; AuthDetail (a password) never reaches
    state, action results or logs, even at DEBUG."""
    caplog.set_level(logging.DEBUG)
    fake.handlers["PJSIPShowRegistrationsOutbound"] = lambda _a: list_reply(
        [
            {
                "Event": "OutboundRegistrationDetail",
                "ObjectName": "acme",
                "ClientUri": "sip:pod1@x",
                "ServerUri": "sip:x",
                "Status": "Registered",
            },
            {"Event": "AuthDetail", "ObjectName": "acme-auth", "Password": SECRET_PASSWORD},
        ],
        "OutboundRegistrationDetailComplete",
    )
    fake.handlers["CoreShowChannels"] = lambda _a: list_reply(
        [core_show_channel("PJSIP/phone1-00000001", "1.1")], "CoreShowChannelsComplete"
    )
    fake.handlers["PJSIPShowContacts"] = lambda _a: [
        {"Response": "Error", "Message": "No Contacts found"}
    ]
    fake.handlers["CoreSettings"] = lambda _a: [
        {"Response": "Success", "AsteriskVersion": "22.10.1"}
    ]
    state = AsteriskState()
    client = AmiClient(settings=settings(fake.port), state=state)
    async with running(client):
        await client.wait_fully_booted(5)
        await until(lambda: state.version == "22.10.1" and "1.1" in state.calls.channels)
        assert state.peers.registrations["acme"].status == 1
        reply = await client.action({"Action": "PJSIPShowRegistrationsOutbound"})
        fake.push({"Event": "AuthDetail", "Password": SECRET_PASSWORD})
        fake.push({"Event": "Reload", "Module": "res_pjsip.so", "Status": "0"})
        await until(lambda: state.events_total >= 2)
    assert [m.get("Event") for m in reply] == [
        None,
        "OutboundRegistrationDetail",
        "OutboundRegistrationDetailComplete",
    ]
    assert SECRET_PASSWORD not in caplog.text
    assert SECRET_PASSWORD not in repr(reply)
    assert "pw" not in repr(client.settings)


async def test_events_around_a_snapshot_apply_in_stream_order(fake: FakeAmi) -> None:
    """Events just before and after CoreShowChannels' list, in one TCP read, are neither lost
    nor applied twice: the snapshot lands exactly at its place in the stream."""
    state = AsteriskState()
    client = AmiClient(settings=settings(fake.port), state=state)

    def channels(_action: dict[str, str]) -> list[dict[str, str]]:
        return [
            {**newchannel("PJSIP/phone2-00000002", "2.1"), "_noid": "1"},  # before: in list too
            *list_reply(
                [
                    core_show_channel("PJSIP/phone1-00000001", "1.1"),
                    core_show_channel("PJSIP/phone2-00000002", "2.1"),
                ],
                "CoreShowChannelsComplete",
            ),
            {**hangup("PJSIP/phone1-00000001", "1.1"), "_noid": "1"},  # after: must end 1.1
        ]

    fake.handlers["CoreShowChannels"] = channels
    async with running(client):
        await until(lambda: state.events_total >= 3)
        await asyncio.sleep(0.05)
    assert set(state.calls.channels) == {"2.1"}
    assert sum(state.calls.total.values()) == 1


async def test_stalled_peer_is_dropped_and_reconnected(fake: FakeAmi) -> None:
    """A peer that stops answering (TCP still open) is closed by our ping; we log in again,
    count the reconnect, and actions fail fast with AmiError meanwhile."""
    state = AsteriskState()
    client = AmiClient(settings=settings(fake.port), state=state)
    async with running(client):
        await client.wait_fully_booted(5)
        fake.stalled = True
        with pytest.raises(AmiError, match="timed out"):
            await client.action({"Action": "CoreStatus"}, timeout=0.1)
        await until(lambda: not state.ami_connected, 3)
        fake.stalled = False
        await until(lambda: state.ami_connected and fake.logins >= 2, 3)
        assert state.ami_reconnects >= 1
        await client.wait_fully_booted(2)


async def test_connection_loss_fails_pending_actions_and_reconnects(fake: FakeAmi) -> None:
    """A dropped connection fails the pending action at once (no blind replay) and reconnects."""
    fake.handlers["Reload"] = lambda _a: []  # never answered
    state = AsteriskState()
    client = AmiClient(settings=settings(fake.port), state=state)
    async with running(client):
        await client.wait_fully_booted(5)
        pending = asyncio.create_task(client.action({"Action": "Reload"}, timeout=5))
        await until(lambda: any(a.get("Action") == "Reload" for a in fake.actions))
        fake.drop_all()
        with pytest.raises(AmiError, match="connection lost"):
            await pending
        await until(lambda: fake.logins >= 2)
    assert [a.get("Action") for a in fake.actions].count("Reload") == 1


async def test_wrong_secret_retries_without_connecting(fake: FakeAmi) -> None:
    """A refused login is retried with backoff; nothing claims to be connected."""
    state = AsteriskState()
    bad = AmiSettings(username="sup", secret="wrong", port=fake.port, backoff_initial=0.01)
    client = AmiClient(settings=bad, state=state)
    async with running(client):
        await until(lambda: sum(a.get("Action") == "Login" for a in fake.actions) >= 3)
        assert not state.ami_connected
        assert not client.connected.is_set()
        with pytest.raises(AmiError, match="not connected"):
            await client.action({"Action": "CoreStatus"})


async def test_status_checks_follow_the_connection(fake: FakeAmi) -> None:
    """AMI and FullyBooted gate readiness; a registration is shown but does not gate."""
    from supervisor.ami.checks import ami_checks

    fake.handlers["PJSIPShowRegistrationsOutbound"] = lambda _a: list_reply(
        [
            {
                "Event": "OutboundRegistrationDetail",
                "ObjectName": "acme",
                "ClientUri": "sip:pod1@x",
                "ServerUri": "sip:x",
                "Status": "Rejected",
            }
        ],
        "OutboundRegistrationDetailComplete",
    )
    client = AmiClient(settings=settings(fake.port), state=AsteriskState())
    source = ami_checks(client)
    assert {c.name: c.ok for c in source()} == {"ami": False, "asterisk booted": False}
    async with running(client):
        await client.wait_fully_booted(5)
        await until(lambda: bool(client.state.peers.registrations))
        checks = {c.name: c for c in source()}
    assert checks["ami"].ok
    assert checks["asterisk booted"].ok
    assert not checks["trunk registration acme"].ok
    assert not checks["trunk registration acme"].gates_readiness


async def test_periodic_resync_ends_a_call_whose_hangup_was_missed(fake: FakeAmi) -> None:
    """A channel whose Hangup never arrived is ended by the reconcile timer once two lists
    confirm it, counted once as `lost`."""
    channels = [core_show_channel("PJSIP/phone1-00000001", "1.1")]
    fake.handlers["CoreShowChannels"] = lambda _a: list_reply(
        list(channels), "CoreShowChannelsComplete"
    )
    state = AsteriskState()
    client = AmiClient(settings=settings(fake.port, reconcile_interval=0.2), state=state)
    async with running(client):
        await until(lambda: "1.1" in state.calls.channels)
        channels.clear()  # gone from Asterisk, no event
        await until(lambda: not state.calls.channels)
    assert state.calls.total == {("internal", "", "lost"): 1}


async def test_boot_edge_calls_listeners_once_per_boot_before_waiters(fake: FakeAmi) -> None:
    """on_boot listeners run once per FullyBooted edge (not per repeat), before anything waiting
    on fully_booted; Shutdown and close() end the boot at once."""
    order: list[str] = []
    client = AmiClient(settings=settings(fake.port), state=AsteriskState())
    client.on_boot(lambda: order.append("listener"))

    async def waiter() -> None:
        await client.fully_booted.wait()
        order.append("waiter")

    waiting = asyncio.create_task(waiter())
    async with running(client):
        await client.wait_fully_booted(5)
        await waiting
        assert order == ["listener", "waiter"]
        fake.push({"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"})
        await asyncio.sleep(0.1)
        assert order == ["listener", "waiter"]  # a repeated FullyBooted is no new edge
        fake.push({"Event": "Shutdown", "Privilege": "system,all", "Shutdown": "Cleanly"})
        await until(lambda: not client.fully_booted.is_set())
        fake.push({"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"})
        await client.wait_fully_booted(5)
        assert order.count("listener") == 2
        client.close()
        assert not client.fully_booted.is_set()  # at once, not when the session's end is seen
        await client.wait_fully_booted(5)  # the reconnect's FullyBooted
        assert order.count("listener") == 3


async def test_require_registered_makes_trunk_checks_gate(fake: FakeAmi) -> None:
    """With require_registered the trunk registration checks gate readiness, and so does not
    knowing them yet (before the re-sync)."""
    from supervisor.ami.checks import ami_checks

    fake.handlers["PJSIPShowRegistrationsOutbound"] = lambda _a: list_reply(
        [
            {
                "Event": "OutboundRegistrationDetail",
                "ObjectName": "acme",
                "ClientUri": "sip:pod1@x",
                "ServerUri": "sip:x",
                "Status": "Registered",
            }
        ],
        "OutboundRegistrationDetailComplete",
    )
    client = AmiClient(settings=settings(fake.port), state=AsteriskState())
    source = ami_checks(client, require_registered=True)
    unknown = next(c for c in source() if c.name == "trunk registrations")
    assert unknown.gates_readiness
    assert not unknown.ok  # before the re-sync nothing is known: not ready
    async with running(client):
        await until(lambda: bool(client.state.peers.registrations))
        checks = {c.name: c for c in source()}
    assert checks["trunk registration acme"].gates_readiness
    assert checks["trunk registration acme"].ok
    assert "trunk registrations" not in checks


async def test_reconnect_now_skips_a_grown_backoff(fake: FakeAmi) -> None:
    """After many failed logins the backoff is long; reconnect_now() (a new Asterisk started)
    logs in at once instead of sleeping it out."""
    state = AsteriskState()
    slow = settings(fake.port, backoff_initial=30.0, backoff_max=30.0)
    client = AmiClient(settings=slow, state=state)
    real_secret, fake.secret = fake.secret, "not-ours"  # the old Asterisk refuses us
    async with running(client):
        await until(lambda: sum(a.get("Action") == "Login" for a in fake.actions) == 1)
        fake.secret = real_secret  # the new Asterisk accepts us
        client.reconnect_now()
        await client.wait_fully_booted(3)
