"""Live reload inside the real supervisor process (entrypoint mode, default 1 s debounce):
ConfigMap swaps go live, a bad one is reported and changes nothing, the next good one applies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab import netns, sipp, sites
from lab.asterisk import RunDir, wait_until
from lab.fixtures import Started
from lab.netns import Lab
from lab.supervisor import SupervisorRun
from supervisor.site.mounts import content_hash, read_mount

pytestmark = pytest.mark.lab


@pytest.fixture
def supervisor(lab: Lab, run_dir: RunDir, started: Started) -> Iterator[SupervisorRun]:
    secrets = sites.secrets()
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"]
    )
    started.add(registrar.stop)
    run = SupervisorRun(lab, run_dir, sites.site_files(sites.home()), secrets)
    try:
        run.start()
        run.wait_ready(40)
        yield run
    finally:
        run.stop()


def endpoints(run: SupervisorRun) -> str:
    conf = run.run.inside(run.run.path("etc") / "asterisk.conf")
    argv = ["chroot", str(run.run.rootfs), "/usr/sbin/asterisk", "-C", conf, "-rx"]
    return run.lab.run("pod", [*argv, "pjsip show endpoints"], check=False).stdout


def live_hash(run: SupervisorRun) -> str:
    return content_hash([read_mount(run.config_mount), read_mount(run.secret_mount)])


def test_swaps_apply_bad_input_is_kept_out_then_fixed(supervisor: SupervisorRun) -> None:
    """A ConfigMap swap goes live (metric hash, Asterisk's endpoints); an invalid one counts a
    failure and leaves Asterisk and readiness as they were; the next good one applies."""
    run = supervisor
    run.update_site(sites.site_files(sites.home("bob")))
    digest = live_hash(run)
    wait_until(
        lambda: run.metric("asterisk_supervisor_config_info", {"hash": digest}) == 1,
        10,
        what="bob's config live",
    )
    assert "bob" in endpoints(run)
    assert run.metric("asterisk_supervisor_reloads_total", {"module": "res_pjsip.so"}) == 1

    run.update_site({"site.yaml": "endpoints: [oops\n"})
    wait_until(
        lambda: run.metric("asterisk_supervisor_config_apply_operations_failed_total") == 1,
        10,
        what="rejection counted",
    )
    assert run.metric("asterisk_supervisor_last_reload_successful") == 0
    assert run.metric("asterisk_supervisor_config_info", {"hash": digest}) == 1
    assert run.ready()  # the last good config is live: still ready
    assert "site.yaml:" in run.output()

    run.update_site(sites.site_files(sites.home("carol")))
    fixed = live_hash(run)
    wait_until(
        lambda: run.metric("asterisk_supervisor_config_info", {"hash": fixed}) == 1,
        10,
        what="fixed config live",
    )
    assert run.metric("asterisk_supervisor_last_reload_successful") == 1
    text = endpoints(run)
    assert "carol" in text
    assert "bob" not in text
