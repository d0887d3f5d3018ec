"""The apply pipeline against real temp dirs, kubelet-style swaps and a fake Asterisk."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import stat
from pathlib import Path

import pytest

from lab import sites
from lab.kubelet import write_mount
from supervisor.reload import ConfigDir, SiteConfigBuilder, StartupError
from supervisor.reload.checks import config_checks
from supervisor.security.events import IPNetwork
from tests.supervisor.reload.conftest import Rig

REJECTED = "asterisk_supervisor_config_apply_operations_failed_total"
LAST_OK = "asterisk_supervisor_last_reload_successful"


async def test_prepare_writes_every_file_group_readable(rig: Rig) -> None:
    """prepare() writes the rendered files 0640 and records their hash as the live config."""
    rig.start()
    mode = stat.S_IMODE(os.stat(rig.etc / "pjsip.conf").st_mode)
    assert mode == 0o640
    assert "[kitchen]" in rig.text("pjsip.conf")
    assert rig.applier.state.config_live
    assert rig.value("asterisk_supervisor_config_info", {"hash": rig.applier.state.live_hash or ""})
    assert rig.value(LAST_OK) == 1  # the start-up config is the first successful reload
    assert not [p for p in rig.etc.iterdir() if p.name.startswith(".")]  # no temp files left


def test_prepare_rejects_an_invalid_site_with_one_line(rig: Rig) -> None:
    """An invalid site at start-up is a StartupError naming the file and line."""
    write_mount(rig.site, {"site.yaml": "endpoints: [a\n"})
    with pytest.raises(StartupError, match=r"site\.yaml:2"):
        rig.applier.prepare()


async def test_refresh_applies_other_render_inputs_even_with_broken_mounts(
    tmp_path: Path,
) -> None:
    """refresh() re-renders the live site with the renderer's other inputs (the ban list): the
    first ban writes acl.conf and pjsip.conf's reference to it (acl reloads before res_pjsip),
    a further ban acl.conf alone (only acl reloads), and a broken ConfigMap waiting meanwhile
    neither blocks it nor is applied by it. Only what changed is read back: pjsip.conf's
    objects for the first ban, nothing for acl.conf alone, never the unchanged dialplan."""
    blocked: list[IPNetwork] = []

    rig = Rig(tmp_path, build=SiteConfigBuilder(sites.context(), lambda _site: blocked)).start()
    write_mount(rig.site, {"site.yaml": "endpoints: [a\n"})
    blocked.append(ipaddress.ip_network("198.51.100.66/32"))
    result = await rig.applier.refresh()
    assert result.outcome == "applied", result.problems
    assert result.changed == ("acl.conf", "pjsip.conf")
    assert rig.asterisk.reloads == ["acl", "res_pjsip.so"]
    assert "deny = 198.51.100.66/32" in rig.text("acl.conf")
    assert "acl = supervisor-blocked" in rig.text("pjsip.conf")
    assert "[kitchen]" in rig.text("pjsip.conf")  # still the live site, not the broken one
    sent = [a["Action"] for a in rig.asterisk.actions]
    assert "PJSIPShowEndpoints" in sent
    assert "ShowDialPlan" not in sent
    blocked.append(ipaddress.ip_network("2001:db8:bad::/64"))
    before = len(rig.asterisk.actions)
    result = await rig.applier.refresh()
    assert result.changed == ("acl.conf",)
    assert rig.asterisk.actions[before:] == [{"Action": "Reload", "Module": "acl"}]
    assert rig.asterisk.reloads == ["acl", "res_pjsip.so", "acl"]
    assert "deny = 198.51.100.66/32,2001:db8:bad::/64" in rig.text("acl.conf")
    blocked.clear()
    assert (await rig.applier.refresh()).outcome == "applied"
    assert "supervisor-blocked" not in rig.text("pjsip.conf")
    assert "supervisor-blocked" not in rig.text("acl.conf")


async def test_unchanged_mounts_reload_nothing(rig: Rig) -> None:
    """Same content (even rewritten by a swap) means no write and no reload."""
    rig.start()
    rig.swap_site(sites.home())
    result = await rig.applier.apply()
    assert result.outcome == "unchanged"
    assert rig.asterisk.reloads == []


async def test_endpoint_change_reloads_only_res_pjsip(rig: Rig) -> None:
    """A new endpoint rewrites pjsip.conf only and reloads res_pjsip.so only, then reads back."""
    rig.start()
    rig.swap_site(sites.home("bob"))
    result = await rig.applier.apply()
    assert result.outcome == "applied", result.problems
    assert result.changed == ("pjsip.conf",)
    assert rig.asterisk.reloads == ["res_pjsip.so"]
    assert any(a["Action"] == "PJSIPShowEndpoints" for a in rig.asterisk.actions)
    assert rig.value(LAST_OK) == 1
    assert rig.value("asterisk_supervisor_reloads_total", {"module": "res_pjsip.so"}) == 1


async def test_dialplan_change_reloads_only_pbx_config(rig: Rig) -> None:
    """A dialplan change reloads pbx_config.so only."""
    rig.start()
    rig.swap_site(sites.with_extension(sites.home(), "13", "desk"))
    result = await rig.applier.apply()
    assert result.outcome == "applied", result.problems
    assert rig.asterisk.reloads == ["pbx_config.so"]


async def test_secret_change_reregisters_the_trunk(rig: Rig) -> None:
    """A changed trunk password is verified by read-back and triggers PJSIPRegister."""
    rig.start()
    rig.swap_secrets(sites.secrets("new-provider-pw"))
    result = await rig.applier.apply()
    assert result.outcome == "applied", result.problems
    assert {"Action": "PJSIPRegister", "Registration": "provider"} in rig.asterisk.actions


BAD_INPUTS = {
    "invalid yaml": ({"site.yaml": "endpoints: [a\n"}, {}, "site.yaml:2"),
    "schema error": ({"site.yaml": "endpoints: 5\n"}, {}, "site.yaml:1: endpoints"),
    "binary file": ({"site.yaml": b"\x00\x01endpoints"}, {}, "binary"),
    "oversized file": ({"site.yaml": "#" * 70_000}, {}, "larger than the limit"),
    "symlink outside": ({}, {"site.yaml": "/etc/passwd"}, "outside the mount"),
    "unreadable file": ({}, {"site.yaml": "gone.yaml"}, "cannot be read"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
async def test_bad_input_keeps_last_good_then_a_fix_applies(
    rig: Rig, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each bad input is rejected with one error line naming the file (counted,
    last_reload_successful=0, files untouched); the next good config applies."""
    files, links, needle = BAD_INPUTS[case]
    rig.start()
    before = (rig.etc / "pjsip.conf").read_text()
    write_mount(rig.site, files, symlinks=links)
    caplog.clear()
    result = await rig.applier.apply()
    assert result.outcome == "rejected"
    assert any(needle in p for p in result.problems), result.problems
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "\n" not in errors[0]
    assert "site.yaml" in errors[0]
    assert needle in errors[0]
    assert rig.value(REJECTED) == 1
    assert rig.value(LAST_OK) == 0
    assert (rig.etc / "pjsip.conf").read_text() == before
    assert rig.asterisk.reloads == []
    assert rig.applier.state.last_error
    rig.swap_site(sites.home("carol"))
    fixed = await rig.applier.apply()
    assert fixed.outcome == "applied", fixed.problems
    assert rig.value(LAST_OK) == 1
    assert rig.applier.state.last_error is None


async def test_missing_secret_key_is_rejected(rig: Rig) -> None:
    """A Secret without the trunk password key is rejected with the key named."""
    rig.start()
    values = sites.secrets()
    del values["kitchen-password"]
    rig.swap_secrets(values)
    result = await rig.applier.apply()
    assert result.outcome == "rejected"
    assert any("kitchen-password" in p for p in result.problems), result.problems


async def test_reload_that_keeps_old_objects_is_rolled_back_and_retried(rig: Rig) -> None:
    """res_pjsip answering Success but keeping old objects fails the read-back: the previous file
    is restored and reloaded, and the same content is retried next time (forced retry)."""
    rig.start()
    before = (rig.etc / "pjsip.conf").read_text()
    rig.asterisk.keep_old = True
    rig.swap_site(sites.home("bob"))
    result = await rig.applier.apply()
    assert result.outcome == "failed"
    assert any("bob" in p for p in result.problems)
    assert (rig.etc / "pjsip.conf").read_text() == before
    assert rig.asterisk.reloads == ["res_pjsip.so", "res_pjsip.so"]
    assert rig.value("asterisk_supervisor_reloads_failed_total", {"module": "res_pjsip.so"}) == 1
    rig.asterisk.keep_old = False
    retry = await rig.applier.apply()
    assert retry.outcome == "applied"


async def test_pbx_config_error_is_a_failure(rig: Rig) -> None:
    """pbx_config's Error response fails the apply and restores extensions.conf."""
    rig.start()
    before = (rig.etc / "extensions.conf").read_text()
    rig.asterisk.pbx_error = True
    rig.swap_site(sites.with_extension(sites.home(), "14", "kitchen"))
    result = await rig.applier.apply()
    assert result.outcome == "failed"
    assert (rig.etc / "extensions.conf").read_text() == before


async def test_ami_down_fails_and_restores(rig: Rig) -> None:
    """No AMI connection: the apply fails, files are restored, nothing is recorded as live."""
    rig.start()
    live = rig.applier.state.live_hash
    before = (rig.etc / "pjsip.conf").read_text()
    rig.asterisk.down = True
    rig.swap_site(sites.home("bob"))
    result = await rig.applier.apply()
    assert result.outcome == "failed"
    assert (rig.etc / "pjsip.conf").read_text() == before
    assert rig.applier.state.live_hash == live


async def test_transport_change_requires_restart(rig: Rig) -> None:
    """A transport port change is applied to disk, reported as restart required (metric, state,
    hook), and cleared once Asterisk restarted."""
    rig.start()
    rig.swap_site(sites.with_port(sites.home(), "udp6", 5070))
    result = await rig.applier.apply()
    assert result.outcome == "applied"
    assert len(result.restart_required) == 1, result.restart_required
    (reason,) = result.restart_required
    assert reason.subject == "transport udp6"
    assert reason.change.startswith("changed: ")
    assert ":5060 -> " in str(reason)
    assert rig.value("asterisk_supervisor_restart_required") == 1
    assert rig.restarts
    assert rig.restarts[-1] == result.restart_required
    rig.applier.asterisk_started()
    assert rig.value("asterisk_supervisor_restart_required") == 0
    assert rig.restarts[-1] == ()
    assert rig.applier.state.restart_required == ()


async def test_reverting_a_transport_change_clears_restart_required(rig: Rig) -> None:
    """Restart-required is relative to what Asterisk booted with: reverting clears it."""
    rig.start()
    rig.swap_site(sites.with_port(sites.home(), "udp6", 5070))
    await rig.applier.apply()
    rig.swap_site(sites.home())
    await rig.applier.apply()
    assert rig.applier.state.restart_required == ()
    assert rig.value("asterisk_supervisor_restart_required") == 0


async def test_applies_never_overlap(rig: Rig) -> None:
    """Concurrent apply() calls run one after the other (the second sees the first's result)."""
    rig.start()
    rig.swap_site(sites.home("bob"))
    results = await asyncio.gather(rig.applier.apply(), rig.applier.apply())
    assert sorted(r.outcome for r in results) == ["applied", "unchanged"]


async def test_secrets_never_in_errors_or_state(rig: Rig) -> None:
    """A password mismatch in the read-back is reported without the password."""
    rig.start()
    rig.asterisk.keep_old = True
    rig.swap_secrets(sites.secrets("sekrit-new"))
    result = await rig.applier.apply()
    assert result.outcome == "failed"
    text = " ".join(result.problems) + str(rig.applier.state.as_dict())
    assert "password differs" in text
    assert "sekrit-new" not in text
    assert "provider-secret" not in text


async def test_reverting_to_the_live_config_clears_the_failure(rig: Rig) -> None:
    """After a rejected change, mounts reverted to the live content report success again."""
    rig.start()
    write_mount(rig.site, {"site.yaml": "endpoints: [a\n"})
    assert (await rig.applier.apply()).outcome == "rejected"
    rig.swap_site(sites.home())
    assert (await rig.applier.apply()).outcome == "unchanged"
    assert rig.value(LAST_OK) == 1
    assert rig.applier.state.last_error is None


async def test_unwritable_config_dir_fails_without_raising(rig: Rig) -> None:
    """A config dir that cannot be written fails the apply (counted), and nothing is reloaded."""
    rig.start()
    rig.applier.config_dir = ConfigDir(rig.etc / "missing")
    rig.swap_site(sites.home("bob"))
    result = await rig.applier.apply()
    assert result.outcome == "failed"
    assert "writing" in result.problems[0]
    assert rig.asterisk.reloads == []
    assert rig.value(REJECTED) == 1


RESTORED = "asterisk_supervisor_config_last_good_restored"


async def test_a_restart_with_an_invalid_site_starts_on_the_last_good_config(rig: Rig) -> None:
    """A supervisor started while the mounted site is invalid runs the config last made live
    (kept on the volume, rendered again): live and ready, the mounted site's problems located in
    the state, last_reload_successful 0 and config_last_good_restored 1."""
    rig.start()
    rig.swap_site(sites.home("bob"))
    assert (await rig.applier.apply()).outcome == "applied"
    live = rig.applier.state.live_hash
    (rig.etc / "pjsip.conf").unlink()  # a new pod: nothing rendered yet
    write_mount(rig.site, {"site.yaml": "endpoints: [a\n"})
    rig.restart_supervisor()
    config = rig.applier.prepare()
    assert config.hash == live
    assert "[bob]" in rig.text("pjsip.conf")
    rig.asterisk.boot()
    rig.applier.asterisk_started()
    state = rig.applier.state
    assert state.config_live
    assert state.ready
    assert state.live_hash == live
    assert state.last_good_restored
    assert state.last_error is not None
    assert "site.yaml:2" in state.last_error
    assert rig.value(LAST_OK) == 0
    assert rig.value(RESTORED) == 1
    assert rig.value(REJECTED) == 1
    [check] = config_checks(lambda: rig.applier.state)()  # what /status and /readyz show
    assert check.ok
    assert "kept on the volume" in check.detail
    assert "site.yaml:2" in check.detail
    assert rig.value("asterisk_supervisor_config_info", {"hash": live or ""}) == 1


def restart_on_an_invalid_site(rig: Rig) -> None:
    """The mounted site made invalid, a new supervisor started and Asterisk booted on its
    config (the kept one)."""
    write_mount(rig.site, {"site.yaml": "endpoints: 5\n"})
    rig.restart_supervisor()
    rig.applier.prepare()
    rig.asterisk.boot()
    rig.applier.asterisk_started()


async def test_the_fixed_site_applies_after_a_start_on_the_last_good_config(rig: Rig) -> None:
    """Started on the kept config, the supervisor applies the mounts once they are fixed, and
    keeps the fixed site as the new last good one."""
    rig.start()
    restart_on_an_invalid_site(rig)
    assert (await rig.applier.apply()).outcome == "rejected"  # still invalid: still reported
    assert rig.applier.state.last_good_restored
    rig.swap_site(sites.home("carol"))
    result = await rig.applier.apply()
    assert result.outcome == "applied", result.problems
    assert "[carol]" in rig.text("pjsip.conf")
    state = rig.applier.state
    assert not state.last_good_restored
    assert state.last_error is None
    assert rig.value(LAST_OK) == 1
    assert rig.value(RESTORED) == 0
    kept = rig.last_good.load()
    assert kept is not None
    assert kept.hash == result.hash


async def test_mounts_reverted_to_the_kept_config_clear_the_report(rig: Rig) -> None:
    """The mounts put back to the config the supervisor restored: nothing to apply, and the
    mounted site is no longer reported invalid."""
    rig.start()
    restart_on_an_invalid_site(rig)
    rig.swap_site(sites.home())
    assert (await rig.applier.apply()).outcome == "unchanged"
    assert not rig.applier.state.last_good_restored
    assert rig.applier.state.last_error is None
    assert rig.value(RESTORED) == 0


async def test_a_ban_does_not_hide_the_rejected_mounted_site(tmp_path: Path) -> None:
    """A re-render of the kept config for a ban applies, and the mounted site is still
    reported invalid (the refresh does not read the mounts)."""
    blocked: list[IPNetwork] = []
    rig = Rig(tmp_path, build=SiteConfigBuilder(sites.context(), lambda _site: blocked)).start()
    restart_on_an_invalid_site(rig)
    blocked.append(ipaddress.ip_network("198.51.100.66/32"))
    assert (await rig.applier.refresh()).outcome == "applied"
    assert "deny = 198.51.100.66/32" in rig.text("acl.conf")
    assert rig.applier.state.last_good_restored
    assert rig.value(LAST_OK) == 0
    assert rig.value(RESTORED) == 1


def test_first_boot_with_an_invalid_site_still_refuses(rig: Rig) -> None:
    """Nothing kept yet: an invalid site is the located StartupError, nothing written."""
    write_mount(rig.site, {"site.yaml": "endpoints: [a\n"})
    with pytest.raises(StartupError, match=r"site\.yaml:2") as caught:
        rig.applier.prepare()
    assert "no fallback" not in str(caught.value)
    assert not (rig.etc / "pjsip.conf").exists()


def test_an_unusable_kept_config_is_named_beside_the_site_problems(rig: Rig) -> None:
    """A damaged kept config is no fallback: the StartupError names the site's problem and why
    the kept file cannot be used."""
    rig.start()
    rig.last_good.path.write_text("{}")
    write_mount(rig.site, {"site.yaml": "endpoints: [a\n"})
    rig.restart_supervisor()
    with pytest.raises(StartupError, match=r"site\.yaml:2.*no fallback: the last good config"):
        rig.applier.prepare()


def test_a_valid_start_keeps_its_config(rig: Rig) -> None:
    """A valid start-up config is kept on the volume at once (a restart right after can use it)."""
    rig.start()
    kept = rig.last_good.load()
    assert kept is not None
    assert kept.hash == rig.applier.state.live_hash


async def test_a_config_that_cannot_be_kept_is_live_all_the_same(rig: Rig) -> None:
    """The volume refuses the kept copy (its directory is a file): the change is applied and
    live, and the config check says it was not kept."""
    rig.start()
    rig.last_good.path.unlink()
    rig.last_good.path.parent.rmdir()
    rig.last_good.path.parent.write_text("not a directory")
    rig.swap_site(sites.home("bob"))
    result = await rig.applier.apply()
    assert result.outcome == "applied", result.problems
    assert rig.value(LAST_OK) == 1
    [check] = config_checks(lambda: rig.applier.state)()
    assert check.ok
    assert "not kept on the volume" in check.detail
