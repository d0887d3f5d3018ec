"""The security metrics, on an injected registry. Labels are bounded: `event` is one of
events.KNOWN_EVENTS or `other`, `service` one of events.KNOWN_SERVICES or `other`."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from supervisor.security import events
from supervisor.security.logfilter import FAILED_REASON_LABELS


class SecurityMetrics:
    def __init__(self, registry: CollectorRegistry, blocked: Callable[[], int]) -> None:
        self.events = Counter(
            "asterisk_supervisor_security_events",
            "Asterisk security events (AMI class security) by kind and service.",
            ["event", "service"],
            registry=registry,
        )
        # Present from the start, so rate() and the dashboard see zeros rather than nothing.
        for kind in events.FAILURES:
            self.events.labels(event=kind, service="PJSIP")
        self.unanswered = Counter(
            "asterisk_supervisor_unanswered_challenges",
            "Batches of requests naming a real endpoint (the label: its name in the site) "
            "that were challenged and never answered with credentials, each counted as one "
            "failure of its source (docs/security.md).",
            ["endpoint"],
            registry=registry,
        )
        self.unproven = Counter(
            "asterisk_supervisor_unproven_failures",
            "Failures over UDP (source address not proven) from an address a device "
            "authenticated from: counted here, never toward a ban.",
            registry=registry,
        )
        self.log_dropped = Counter(
            "asterisk_supervisor_asterisk_log_lines_dropped",
            "Asterisk console lines not relayed to the pod's log: over the rate limit per "
            "kind and source, or overall (a flood's lines; logfilter.py).",
            registry=registry,
        )
        self.evictions = Counter(
            "asterisk_supervisor_ban_evictions",
            "Bans lifted before their time because the ban list was full (oldest plain first).",
            registry=registry,
        )
        self.blocks = Counter(
            "asterisk_supervisor_blocks",
            "Sources blocked by the security guard (a deny ACL in Asterisk).",
            registry=registry,
        )
        self.blocked = Gauge(
            "asterisk_supervisor_blocked_sources",
            "Sources blocked now.",
            registry=registry,
        )
        self.blocked.set_function(lambda: float(blocked()))
        self.block_latency = Histogram(
            "asterisk_supervisor_block_latency_seconds",
            "From the failure that crossed the threshold to Asterisk running the ACL that "
            "denies its source (reload verified).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.refused = Counter(
            "asterisk_supervisor_refused_requests",
            "SIP requests Asterisk refused by ACL (from blocked sources), from its log.",
            registry=registry,
        )
        self.failed_lines = Counter(
            "asterisk_supervisor_failed_request_lines",
            "res_pjsip's per-request lines about failed SIP requests (an unknown account, a "
            "wrong password), counted instead of relayed to the pod's log: the security "
            "events report the same requests. reason: no_matching_endpoint, "
            "failed_to_authenticate or other.",
            ["reason"],
            registry=registry,
        )
        for reason in FAILED_REASON_LABELS:
            self.failed_lines.labels(reason=reason)
        self.apply_failures = Counter(
            "asterisk_supervisor_block_apply_failures",
            "Ban list changes Asterisk could not be made to run (retried).",
            registry=registry,
        )
