"""The composition root's wiring, without running it: every part built up front, the initial
config written, each part's checks, metrics and named tasks in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab.paths import REPO
from supervisor.app import build
from supervisor.reload import StartupError
from supervisor.settings import AsteriskPaths, Mode, Settings

EXAMPLE = REPO / "examples" / "home"


def settings(tmp_path: Path, mode: Mode, site: Path = EXAMPLE / "site") -> Settings:
    for where in ("etc/asterisk", "var/spool/asterisk", "var/lib/asterisk"):
        (tmp_path / where).mkdir(parents=True)  # the persistent paths must exist
    return Settings(
        mode=mode,
        config_dirs=(site,),
        secret_dirs=(EXAMPLE / "secrets",),
        asterisk=AsteriskPaths(root=tmp_path),
    )


@pytest.mark.parametrize("mode", list(Mode))
def test_build_wires_every_part_and_writes_the_config(tmp_path: Path, mode: Mode) -> None:
    """build() writes the initial config and lists the checks, metrics and tasks of the mode."""
    parts = build(settings(tmp_path, mode))
    assert (tmp_path / "etc" / "asterisk" / "pjsip.conf").is_file()
    assert parts.reload.applier.state.live_hash
    entrypoint = mode is Mode.ENTRYPOINT
    assert [t.name for t in parts.tasks] == [
        "heartbeat",
        "reaper",
        "shutdown",
        "heap-trim",
        "gc-pauses",
        "addresses",
    ]
    assert [t.name for t in parts.gated_tasks] == ["ami", "voicemail", "phone-features"] + (
        ["asterisk", "restart-when-idle", "hang-watchdog"] if entrypoint else []
    ) + ["reload", "security", "tls-served", "tls-providers", "records", "mail"]
    assert (tmp_path / "var" / "spool" / "asterisk" / "records" / "calls.db").is_file()
    assert (tmp_path / "var" / "spool" / "asterisk" / "supervisor" / "mail").is_dir()
    names = [c.name for c in parts.core.board.checks()]
    assert names[:2] == ["draining", "config"]
    assert ("asterisk process" in names) is entrypoint
    assert {"ami", "asterisk booted", "addresses"} <= set(names)
    assert not parts.core.board.ready()  # nothing runs yet
    assert parts.core.board.as_dict()["phone_features"] == {"known": False, "phones": []}
    for metric in (
        "asterisk_supervisor_asterisk_up",
        "asterisk_supervisor_ready",
        "asterisk_supervisor_draining",
        "asterisk_supervisor_last_reload_successful",
    ):
        assert parts.core.registry.get_sample_value(metric) is not None, metric
    hangs = parts.core.registry.get_sample_value("asterisk_supervisor_asterisk_hangs_total")
    assert (hangs == 0.0) if entrypoint else (hangs is None)


def test_an_invalid_site_fails_the_build_with_its_problems(tmp_path: Path) -> None:
    """An invalid site is a start-up error naming the file and line; nothing is written."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "site.yaml").write_text("endpoints: [a\n")
    with pytest.raises(StartupError, match=r"site\.yaml:2"):
        build(settings(tmp_path, Mode.SIDECAR, site))
    assert not list((tmp_path / "etc" / "asterisk").iterdir())


def test_build_wires_call_quality(tmp_path: Path) -> None:
    """Call quality is wired: its series exist for the site's trunk, /status has its section, and
    an answered call's RTPAUDIOQOS (AMI event path) ends up in the loss histogram."""
    parts = build(settings(tmp_path, Mode.ENTRYPOINT))
    inbound = {"direction": "inbound", "trunk": "provider"}
    one_way = "asterisk_supervisor_calls_one_way_media_total"
    assert parts.core.registry.get_sample_value(one_way, inbound) == 0
    assert parts.core.board.sections()["call_quality"] == {
        "one_way_calls_total": 0,
        "recent_one_way_calls": [],
    }
    value = "lp=5;rxjitter=0.0;rxcount=495;txjitter=0.001;txcount=500;rlp=0;rtt=0.0;txmes=80.0"
    channel = {"Channel": "PJSIP/provider-00000001", "Uniqueid": "1.1", "Linkedid": "1.1"}
    for event in (
        {"Event": "Newchannel", "ChannelState": "4", **channel},
        {"Event": "Newstate", "ChannelState": "6", **channel},
        {"Event": "VarSet", "ChannelState": "6", "Variable": "RTPAUDIOQOS", "Value": value},
        {"Event": "Hangup", "ChannelState": "6", "Cause": "16", **channel},
    ):
        if event["Event"] == "VarSet":
            event = {**channel, **event}
        parts.ami.client._on_event(event)  # the client's stream callback: state, then subscribers
    loss = parts.core.registry.get_sample_value(
        "asterisk_supervisor_call_packet_loss_ratio_sum", inbound
    )
    assert loss == pytest.approx(0.01)


def test_every_part_follows_a_config_that_goes_live(tmp_path: Path) -> None:
    """An applied site with a new trunk host, pod address and policy reaches the address monitor,
    the trunk labels, the ban policy and the certificate checks (the live-config subscription)."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "site", site)
    root = tmp_path / "root"
    parts = build(settings(root, Mode.ENTRYPOINT, site))
    monitor = parts.addresses.monitor
    assert [str(e.address) for e in monitor.expected] == ["2001:db8:e8b1::1:1", "203.0.113.10"]
    assert [t.hosts for t in monitor.trunks] == [("2001:db8:5060::10",)]
    text = (site / "site.yaml").read_text()
    text = text.replace("2001:db8:5060::10", "2001:db8:5060::20")
    text = text.replace("ipv6: 2001:db8:e8b1::1:1", "ipv6: 2001:db8:e8b1::1:2")
    text = text.replace("  provider:\n", "  carrier:\n").replace(
        "trunk: provider", "trunk: carrier"
    )
    (site / "site.yaml").write_text(text)
    parts.reload.applier.prepare()  # writes and publishes the new site, as an apply does
    assert [str(e.address) for e in monitor.expected] == ["2001:db8:e8b1::1:2", "203.0.113.10"]
    assert [(t.name, t.hosts) for t in monitor.trunks] == [("carrier", ("2001:db8:5060::20",))]
    assert list(parts.ami.state.calls.trunk_names()) == ["carrier"]
    exempt = {str(n) for n in parts.security.guard.policy.settings.exempt}
    assert {"2001:db8:5060::20/128", "2001:db8:e8b1::1:2/128"} <= exempt
    assert "2001:db8:5060::10/128" not in exempt
    assert set(parts.security.served.state) == {"tls6"}


def test_mail_delivery_follows_the_relay_of_the_live_site(tmp_path: Path) -> None:
    """A relay added to the applied site reaches the mail delivery with the boxes' addresses."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "site", site)
    parts = build(settings(tmp_path / "root", Mode.ENTRYPOINT, site))
    delivery = parts.mail.delivery
    assert delivery.relay is None
    text = (site / "site.yaml").read_text()
    relay = "voicemail:\n  email: {host: mail.example.org, sender: pbx@example.org}\n"
    (site / "site.yaml").write_text(text.replace("voicemail:\n", relay, 1))
    parts.reload.applier.prepare()
    assert delivery.relay is not None
    assert delivery.relay.where == "mail.example.org:587 (starttls)"
    assert delivery.relay.recipients == {"kitchen@example.org"}
    assert parts.core.board.sections()["mail"]["relay"] == "mail.example.org:587 (starttls)"
