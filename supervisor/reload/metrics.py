"""Reload metrics on an injected registry, with the thanos reloader's semantics in our namespace."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

NS = "asterisk_supervisor"


class ReloadMetrics:
    """Counters for events, gauges for the current state (set by the applier)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reloads = Counter(
            f"{NS}_reloads", "Module reloads sent to Asterisk.", ["module"], registry=registry
        )
        self.reloads_failed = Counter(
            f"{NS}_reloads_failed",
            "Module reloads that failed (error response, or read-back mismatch after it).",
            ["module"],
            registry=registry,
        )
        self.last_reload_successful = Gauge(
            f"{NS}_last_reload_successful",
            "1 if the last config apply ended with a verified reload, 0 if it failed.",
            registry=registry,
        )
        self.last_reload_success_timestamp = Gauge(
            f"{NS}_last_reload_success_timestamp_seconds",
            "Unix time of the last verified config apply.",
            registry=registry,
        )
        self.apply_operations = Counter(
            f"{NS}_config_apply_operations",
            "Config apply attempts (snapshot, compare, and apply when changed).",
            registry=registry,
        )
        self.apply_operations_failed = Counter(
            f"{NS}_config_apply_operations_failed",
            "Config apply attempts that failed (invalid input, write, reload or read-back).",
            registry=registry,
        )
        self.watch_events = Counter(
            f"{NS}_watch_events", "File system events seen on the mounts.", registry=registry
        )
        self.polling_fallbacks = Counter(
            f"{NS}_watch_polling_fallbacks",
            "Times inotify could not be used (ENOSPC/EMFILE) and polling was used instead.",
            registry=registry,
        )
        self.restart_required = Gauge(
            f"{NS}_restart_required",
            "1 while a live config change waits for an Asterisk restart to take effect.",
            registry=registry,
        )
        self.last_good_restored = Gauge(
            f"{NS}_config_last_good_restored",
            "1 while the live config is the last good one kept on the volume, restored at start "
            "because the mounted site was rejected; 0 once the mounts apply.",
            registry=registry,
        )
        self.config_info = Gauge(
            f"{NS}_config_info",
            "The content hash of the live config (value always 1).",
            ["hash"],
            registry=registry,
        )
        self._hash: str | None = None

    def set_live_hash(self, digest: str) -> None:
        if self._hash == digest:
            return
        if self._hash is not None:
            self.config_info.remove(self._hash)
        self.config_info.labels(hash=digest).set(1)
        self._hash = digest
