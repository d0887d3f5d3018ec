"""The guard: events counted by kind, one ban at the threshold, ban lists applied, expiry,
persistence across a restart, and a failed apply retried."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from lab.waits import until
from supervisor.reload import ApplyResult
from supervisor.security.guard import BAN_LINES, BAN_LOG_S, RETRY_S, SecurityGuard
from supervisor.security.policy import PolicySettings
from supervisor.security.store import BanStore

SCANNER = "198.51.100.66"
BLOCKED = "198.51.100.66/32"  # what the ACL denies for it


def event(name: str, source: str = SCANNER, account: str = "100") -> dict[str, str]:
    family = "IPV6" if ":" in source else "IPV4"
    return {
        "Event": name,
        "Service": "PJSIP",
        "AccountID": account,
        "RemoteAddress": f"{family}/UDP/{source}/5060",
    }


@dataclass
class FakeApplier:
    """Stands in for Applier.refresh: records what the renderer would see at each apply."""

    guard: SecurityGuard | None = None
    seen: list[tuple[str, ...]] = field(default_factory=list)
    fail: int = 0
    applied: asyncio.Event = field(default_factory=asyncio.Event)
    times: list[float] = field(default_factory=list)  # loop time of each apply

    async def refresh(self) -> ApplyResult:
        assert self.guard is not None
        self.seen.append(tuple(str(a) for a in self.guard.blocked()))
        self.times.append(asyncio.get_running_loop().time())
        if self.fail:
            self.fail -= 1
            return ApplyResult(outcome="failed", hash="h", problems=("reload refused",))
        self.applied.set()
        return ApplyResult(outcome="applied", hash="h")


@contextlib.asynccontextmanager
async def running(guard: SecurityGuard, applier: FakeApplier) -> AsyncIterator[None]:
    applier.guard = guard
    task = asyncio.create_task(guard.run(apply=applier.refresh))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def live(guard: SecurityGuard) -> bool:
    """The guard has applied (and saved) its current ban list."""
    return "not yet live" not in guard.checks()[0].detail


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_threshold_bans_once_logs_once_and_applies(caplog: pytest.LogCaptureFixture) -> None:
    """Three failures ban the source: one log line, blocks_total 1, the ACL list applied with it."""
    registry = CollectorRegistry()
    guard = SecurityGuard(registry=registry, settings=PolicySettings(max_failures=3))
    applier = FakeApplier()
    caplog.set_level(logging.INFO, "supervisor.security")
    async with running(guard, applier):
        for name in ("InvalidAccountID", "ChallengeResponseFailed", "InvalidAccountID"):
            guard.on_event(event(name))
        for _ in range(5):  # more packets before Asterisk refuses them: no more log lines
            guard.on_event(event("ChallengeResponseFailed"))
        await until(lambda: (BLOCKED,) in applier.seen)
    assert value(registry, "asterisk_supervisor_blocks_total") == 1
    assert value(registry, "asterisk_supervisor_blocked_sources") == 1
    assert (
        value(
            registry,
            "asterisk_supervisor_security_events_total",
            event="ChallengeResponseFailed",
            service="PJSIP",
        )
        == 6
    )
    assert value(registry, "asterisk_supervisor_block_latency_seconds_count") == 1
    blocking = [r for r in caplog.records if "blocking" in r.getMessage()]
    assert len(blocking) == 1
    assert SCANNER in blocking[0].getMessage()
    assert "198.51.100.66/32 for 3600 s: 3 failures within 600 s" in blocking[0].getMessage()
    assert "accounts tried: 100" in blocking[0].getMessage()


@pytest.mark.looptime
async def test_ban_lines_beyond_a_minutes_budget_are_summarised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """25 bans at once: the first BAN_LINES logged one by one, the other 5 in one line when
    the minute is over (virtual loop time), with no new ban needed to say it."""
    loop = asyncio.get_running_loop()
    guard = SecurityGuard(
        registry=CollectorRegistry(),
        settings=PolicySettings(max_failures=1),
        monotonic=loop.time,
    )
    caplog.set_level(logging.INFO, "supervisor.security")
    async with running(guard, FakeApplier()):
        for i in range(25):
            guard.on_event(event("InvalidAccountID", source=f"2001:db8:{i + 1:x}::1"))
        await asyncio.sleep(BAN_LOG_S - 1)
        messages = [r.getMessage() for r in caplog.records]
        assert sum(m.startswith("blocking ") for m in messages) == BAN_LINES
        assert not any("more source(s)" in m for m in messages)
        await asyncio.sleep(2)
    summary = [r.getMessage() for r in caplog.records if "more source(s)" in r.getMessage()]
    assert len(summary) == 1
    assert summary[0].startswith("blocked 5 more source(s) in the last 60 s")


@pytest.mark.looptime
async def test_ban_expires_and_is_lifted_from_asterisk() -> None:
    """The ban is applied at once and lifted when ban_time (an hour) has passed, not before: a
    second apply without it (virtual loop time, the guard's clocks injected)."""
    loop = asyncio.get_running_loop()
    guard = SecurityGuard(
        registry=CollectorRegistry(),
        settings=PolicySettings(max_failures=1, ban_time=3600),
        clock=loop.time,
        monotonic=loop.time,
    )
    applier = FakeApplier()
    start = loop.time()
    async with running(guard, applier):
        guard.on_event(event("InvalidPassword"))
        await asyncio.sleep(3599)
        assert applier.seen == [(BLOCKED,)]
        await asyncio.sleep(2)
    assert applier.seen == [(BLOCKED,), ()]
    assert [t - start for t in applier.times] == [0, pytest.approx(3600, abs=0.05)]
    assert guard.blocked() == ()


@pytest.mark.looptime
async def test_failed_apply_is_retried_and_reported() -> None:
    """An apply that fails is retried every RETRY_S until Asterisk runs the list; status says
    so meanwhile (virtual loop time)."""
    loop = asyncio.get_running_loop()
    registry = CollectorRegistry()
    guard = SecurityGuard(registry=registry, settings=PolicySettings(max_failures=1))
    applier = FakeApplier(fail=2)
    start = loop.time()
    async with running(guard, applier):
        guard.on_event(event("InvalidAccountID"))
        await until(lambda: len(applier.seen) >= 2, timeout=RETRY_S * 3)
        assert "not yet live" in guard.checks()[0].detail
        await until(lambda: live(guard), timeout=RETRY_S * 3)
    assert value(registry, "asterisk_supervisor_block_apply_failures_total") == 2
    expected = [0, RETRY_S, 2 * RETRY_S]
    assert [t - start for t in applier.times] == [pytest.approx(t, abs=0.02) for t in expected]


async def test_bans_survive_a_restart(tmp_path: Path) -> None:
    """A new guard on the same store starts with the bans, and its first render has them."""
    store = BanStore(tmp_path / "bans.json")
    first = SecurityGuard(
        registry=CollectorRegistry(), settings=PolicySettings(max_failures=1), store=store
    )
    applier = FakeApplier()
    async with running(first, applier):
        first.on_event(event("InvalidAccountID", source="2001:db8:bad::66"))
        # Applied, and saved beside the apply (by a task of its own).
        await until(lambda: live(first) and store.path.exists())
    second = SecurityGuard(registry=CollectorRegistry(), store=store)
    assert second.blocked() == (ipaddress.ip_network("2001:db8:bad::/64"),)


async def test_exempt_sources_are_counted_not_banned() -> None:
    """A trunk host's failures show in metrics and status but never ban it."""
    registry = CollectorRegistry()
    trunk = "2001:db8:5060::10"
    guard = SecurityGuard(
        registry=registry,
        settings=PolicySettings(max_failures=1, exempt=(ipaddress.ip_network(f"{trunk}/128"),)),
    )
    guard.on_event(event("ChallengeResponseFailed", source=trunk))
    assert guard.blocked() == ()
    status = guard.status()
    assert status["top_offenders"] == [
        {
            "address": trunk,
            "failures": 1,
            "first_seen": pytest.approx(status["top_offenders"][0]["first_seen"]),  # type: ignore[index]
            "last_seen": pytest.approx(status["top_offenders"][0]["last_seen"]),  # type: ignore[index]
            "accounts": ["100"],
            "events": {"ChallengeResponseFailed": 1},
            "blocked": False,
        }
    ]


async def test_site_change_lifts_a_ban_now_allowed() -> None:
    """configure() with the source in the allow-list lifts its ban and applies the list."""
    guard = SecurityGuard(registry=CollectorRegistry(), settings=PolicySettings(max_failures=1))
    applier = FakeApplier()
    async with running(guard, applier):
        guard.on_event(event("InvalidAccountID"))
        await until(lambda: applier.seen[-1:] == [(BLOCKED,)])
        guard.configure(
            PolicySettings(max_failures=1, exempt=(ipaddress.ip_network(f"{SCANNER}/32"),))
        )
        await until(lambda: applier.seen[-1:] == [()])


def test_failures_of_other_services_are_reported_not_banned() -> None:
    """AMI login failures (the ACL guards SIP only) count and show, but never ban."""
    registry = CollectorRegistry()
    guard = SecurityGuard(registry=registry, settings=PolicySettings(max_failures=1))
    for _ in range(3):
        guard.on_event({**event("InvalidPassword"), "Service": "AMI"})
    assert guard.blocked() == ()
    assert (
        value(
            registry,
            "asterisk_supervisor_security_events_total",
            event="InvalidPassword",
            service="AMI",
        )
        == 3
    )
    assert guard.status()["top_offenders"][0]["failures"] == 3  # type: ignore[index]


def test_asterisk_lines_are_screened_and_counted() -> None:
    """The guard's screen takes ACL refusal and failed-request lines (counted in their
    metrics), passes other lines on and rate-limits them (counting what it drops)."""
    registry = CollectorRegistry()
    guard = SecurityGuard(registry=registry)
    refused = "res_pjsip_acl.c:158 apply_acl: Incoming SIP message from x did not pass ACL test"
    failed = (
        "[Dec  6 18:04:01] NOTICE[1]: res_pjsip/pjsip_distributor.c:676 log_failed_request: "
        "Request 'INVITE' from '<sip:100@x>' failed for '203.0.113.9:5060' (callid: 1) - "
        "No matching endpoint found"
    )
    other = "[Dec  6 18:04:01] ERROR[1]: pjproject: <?>: sip_endpoint.c Error from 203.0.113.9"
    assert guard.screen(refused) is None
    assert guard.screen(failed) is None
    relayed = [guard.screen(other) for _ in range(100)]
    assert relayed[0] == other
    assert value(registry, "asterisk_supervisor_refused_requests_total") == 1
    lines = "asterisk_supervisor_failed_request_lines_total"
    assert value(registry, lines, reason="no_matching_endpoint") == 1
    dropped = value(registry, "asterisk_supervisor_asterisk_log_lines_dropped_total")
    assert dropped == relayed.count(None) > 0


@pytest.mark.looptime
async def test_a_crashing_apply_is_counted_and_retried() -> None:
    """An exception from the applier (a bug) does not end the guard: counted, then retried
    after RETRY_S (virtual loop time)."""
    registry = CollectorRegistry()
    guard = SecurityGuard(registry=registry, settings=PolicySettings(max_failures=1))
    applier = FakeApplier()
    calls = []

    async def flaky() -> ApplyResult:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return await applier.refresh()

    applier.guard = guard
    task = asyncio.create_task(guard.run(apply=flaky))
    try:
        guard.on_event(event("InvalidAccountID"))
        await asyncio.wait_for(applier.applied.wait(), RETRY_S * 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert value(registry, "asterisk_supervisor_block_apply_failures_total") == 1
    assert len(calls) == 2


def v6event(
    name: str, source: str, account: str = "desk", transport: str = "UDP"
) -> dict[str, str]:
    return {
        "Event": name,
        "Service": "PJSIP",
        "AccountID": account,
        "RemoteAddress": f"IPV6/{transport}/{source}/5060",
    }


async def test_forged_failures_never_ban_a_device_that_authenticated() -> None:
    """After a SuccessfulAuth from a phone's address, UDP failures from it are counted as
    unproven (metric, /status) and never ban it; TLS failures from it are proven and do."""
    registry = CollectorRegistry()
    guard = SecurityGuard(registry=registry, settings=PolicySettings(max_failures=2))
    phone = "2001:db8:1:2::10"
    guard.on_event(v6event("SuccessfulAuth", phone))
    for _ in range(20):
        guard.on_event(v6event("ChallengeResponseFailed", phone))
        guard.on_event(v6event("InvalidAccountID", phone, account="nosuch"))
    assert not guard.policy.banned(ipaddress.ip_address(phone))
    assert value(registry, "asterisk_supervisor_unproven_failures_total") == 40
    assert guard.status()["unproven_failures_total"] == 40
    for _ in range(2):
        guard.on_event(v6event("ChallengeResponseFailed", phone, transport="TLS"))
    assert guard.policy.banned(ipaddress.ip_address(phone))


async def test_a_flood_naming_a_real_account_is_counted_and_banned() -> None:
    """Challenged requests naming an endpoint, never answered: each batch is one failure of its
    source and counted under the endpoint's name; enough batches ban the source. `<unknown>`
    (no such endpoint) is not counted here: InvalidAccountID reports those."""
    from supervisor.security.policy import CHALLENGE_BATCH

    registry = CollectorRegistry()
    guard = SecurityGuard(registry=registry, settings=PolicySettings(max_failures=2))
    flood = "2001:db8:bad::99"
    for _ in range(CHALLENGE_BATCH * 3):
        guard.on_event(v6event("ChallengeSent", flood, account="<unknown>"))
    assert not guard.policy.banned(ipaddress.ip_address(flood))
    for _ in range(CHALLENGE_BATCH * 2):
        guard.on_event(v6event("ChallengeSent", flood, account="desk"))
    assert value(registry, "asterisk_supervisor_unanswered_challenges_total", endpoint="desk") == 2
    assert guard.policy.banned(ipaddress.ip_address(flood))
    (top,) = guard.status()["top_offenders"]  # type: ignore[misc]
    assert top["events"] == {"UnansweredChallenges": 2}


async def test_a_phone_answering_its_challenges_is_never_counted() -> None:
    """A phone's many challenged requests, each answered with a successful login, never make
    a batch (BLF subscriptions, re-registrations, calls)."""
    from supervisor.security.policy import CHALLENGE_BATCH

    registry = CollectorRegistry()
    guard = SecurityGuard(registry=registry, settings=PolicySettings(max_failures=1))
    phone = "2001:db8:1:2::10"
    for _ in range(CHALLENGE_BATCH * 10):
        guard.on_event(v6event("ChallengeSent", phone))
        guard.on_event(v6event("SuccessfulAuth", phone))
    assert value(registry, "asterisk_supervisor_unanswered_challenges_total", endpoint="desk") == 0
    assert not guard.policy.banned(ipaddress.ip_address(phone))


async def test_the_acl_is_the_smallest_set_of_prefixes() -> None:
    """Bans inside an escalated prefix and adjacent bans merge: the rendered list is collapsed."""
    guard = SecurityGuard(registry=CollectorRegistry(), settings=PolicySettings(max_failures=1))
    applier = FakeApplier()
    async with running(guard, applier):
        # A phone in another /56 of the /48 keeps the /48 from being banned: the /56 is.
        guard.on_event(v6event("SuccessfulAuth", "2001:db8:bad0:ff00::10"))
        for i in range(8):  # /64s of one /56: /64 bans, then the /56
            guard.on_event(v6event("InvalidAccountID", f"2001:db8:bad0:{i:x}::1"))
        for last in (0, 1):  # two adjacent IPv4 /32s merge into a /31
            guard.on_event(event("InvalidAccountID", source=f"203.0.113.{last}"))
        await until(lambda: bool(applier.seen) and "2001:db8:bad0::/56" in applier.seen[-1])
    assert guard.blocked() == (
        ipaddress.ip_network("203.0.113.0/31"),
        ipaddress.ip_network("2001:db8:bad0::/56"),
    )


async def test_a_full_ban_list_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """Evictions are counted in a metric and logged at once, then at most once a minute."""
    registry = CollectorRegistry()
    guard = SecurityGuard(
        registry=registry, settings=PolicySettings(max_failures=1, max_bans=10, escalate=False)
    )
    caplog.set_level(logging.WARNING, "supervisor.security")
    for i in range(30):
        guard.on_event(v6event("InvalidAccountID", f"2001:db8:{i:x}::1"))
    assert value(registry, "asterisk_supervisor_ban_evictions_total") == 20
    full = [r for r in caplog.records if "ban list full" in r.getMessage()]
    assert len(full) == 1
    assert "ban list full (10): 1 older ban(s) lifted early" in full[0].getMessage()
    assert guard.status()["evicted_total"] == 20


async def test_registered_contacts_are_vouched_for_without_a_login() -> None:
    """Addresses of contacts registered in Asterisk (read from the AMI state, e.g. after a
    restart of the supervisor, before any login is seen) are never banned by UDP failures."""
    registry = CollectorRegistry()
    contacts = ["sip:desk@[2001:db8:1:2::10]:5062;ob", "sip:bell@198.51.100.20:5060", "junk"]
    guard = SecurityGuard(
        registry=registry, settings=PolicySettings(max_failures=1), contacts=lambda: contacts
    )
    for source in ("2001:db8:1:2::10", "198.51.100.20"):
        v6 = ":" in source
        message = v6event("InvalidAccountID", source) if v6 else event("InvalidAccountID", source)
        for _ in range(10):
            guard.on_event(message)
        assert not guard.policy.banned(ipaddress.ip_address(source)), source
    assert value(registry, "asterisk_supervisor_unproven_failures_total") == 20
    guard.on_event(event("InvalidAccountID", "198.51.100.21"))  # not registered: banned
    assert guard.policy.banned(ipaddress.ip_address("198.51.100.21"))


@pytest.mark.looptime
async def test_rotation_gets_the_threshold_plus_rate_times_time_to_ban() -> None:
    """A /48 rotated at 100 tests/s, 4 per /64, the next /64 (or /56) once refused, against a
    ban list that takes 0.2 s to apply (virtual loop time): the tests answered are the /48's
    threshold (10) plus at most rate x one apply (one ban, the /48's), none after."""
    loop = asyncio.get_running_loop()
    guard = SecurityGuard(registry=CollectorRegistry(), clock=loop.time, monotonic=loop.time)
    rate, apply_s = 100.0, 0.2
    applied: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    async def refresh() -> ApplyResult:
        nonlocal applied
        bans = guard.blocked()
        await asyncio.sleep(apply_s)
        applied = bans
        return ApplyResult(outcome="applied", hash="h")

    base = int(ipaddress.ip_address("2001:db8:ba48::"))
    answered: list[float] = []
    task = asyncio.create_task(guard.run(apply=refresh))
    try:
        slot, start = 0, loop.time()  # slot: /64 number * 4 + attempt
        while loop.time() - start < 5.0 and slot < 65_536 * 4:
            address = ipaddress.ip_address(base + ((slot // 4) << 64) + slot % 4 + 1)
            if any(address in n for n in applied):
                # The next /64, or the next /56 when the first of a /64 is refused already.
                slot = (slot // 1024 + 1) * 1024 if slot % 4 == 0 else (slot // 4 + 1) * 4
            else:
                answered.append(loop.time() - start)
                guard.on_event(event("ChallengeResponseFailed", source=str(address)))
                slot += 1
            await asyncio.sleep(1 / rate)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert any(n.prefixlen == 48 for n in applied)
    assert 10 <= len(answered) <= 10 + rate * apply_s
    assert max(answered) < 1.0  # and nothing in the 4 s after


@pytest.mark.looptime
async def test_the_acl_follows_added_and_lifted_bans() -> None:
    """The merged list kept between applies follows the bans: new ones merge in (two /64
    halves into their /63... up to the /56 an escalation bans), and a lifted ban (expiry)
    leaves the list, the rest staying merged."""
    loop = asyncio.get_running_loop()
    guard = SecurityGuard(
        registry=CollectorRegistry(),
        settings=PolicySettings(max_failures=1, ban_time=100.0, window=10.0),
        clock=loop.time,
        monotonic=loop.time,
    )
    applier = FakeApplier()
    async with running(guard, applier):
        guard.on_event(event("InvalidAccountID", source="203.0.113.1"))
        await until(lambda: applier.seen[-1:] == [("203.0.113.1/32",)])
        await asyncio.sleep(50.0)
        guard.on_event(event("InvalidAccountID", source="203.0.113.0"))
        guard.on_event(event("InvalidAccountID", source="2001:db8:bad0:1::1"))
        await until(lambda: applier.seen[-1:] == [("203.0.113.0/31", "2001:db8:bad0:1::/64")])
        await asyncio.sleep(60.0)  # the first ban is over, the others not
        await until(lambda: applier.seen[-1:] == [("203.0.113.0/32", "2001:db8:bad0:1::/64")])
