"""The last good config kept on the volume, with the real parts: a supervisor started while the
mounted site is invalid runs the config that was last live (beside an Asterisk that runs on, in
sidecar mode; with a new Asterisk, after a pod restart), is ready, reports the mounted site's
problem located, and applies the site once it is fixed; with nothing kept it refuses to start."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from lab import netns, sipp
from lab.asterisk import Asterisk, RunDir, wait_until
from lab.fixtures import Started
from lab.netns import Lab
from lab.paths import REPO
from lab.supervisor import SupervisorRun, read_dir

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "home"
SITE = read_dir(EXAMPLE / "site")
INVALID = {"site.yaml": "bogus_key: 1\n" + SITE["site.yaml"]}  # located: site.yaml:1
FIXED = {"site.yaml": SITE["site.yaml"].replace("name: Home", "name: Home fixed", 1)}
RESTORED = "asterisk_supervisor_config_last_good_restored"
LAST_OK = "asterisk_supervisor_last_reload_successful"


@pytest.fixture
def supervisors(lab: Lab, run_dir: RunDir, started: Started) -> Iterator[list[SupervisorRun]]:
    made: list[SupervisorRun] = []
    secrets = read_dir(EXAMPLE / "secrets")
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    started.add(registrar.stop)
    yield made
    for run in made:
        run.stop()


def supervisor(
    made: list[SupervisorRun], lab: Lab, run: RunDir, args: list[str], *, keep: bool
) -> SupervisorRun:
    sup = SupervisorRun(lab, run, SITE, read_dir(EXAMPLE / "secrets"), list(args), keep_mounts=keep)
    made.append(sup)
    return sup.start()


def config_detail(sup: SupervisorRun) -> str:
    checks = sup.status()["checks"]
    return next(str(c["detail"]) for c in checks if c["name"] == "config")


def assert_started_on_last_good(sup: SupervisorRun, live_hash: str) -> None:
    """Ready on the kept config, the mounted site reported invalid where it is wrong."""
    sup.wait_ready(60)
    detail = config_detail(sup)
    assert f"live {live_hash[:12]}" in detail
    assert "kept on the volume" in detail
    assert "site.yaml:1" in detail
    assert "bogus_key" in detail
    assert sup.metric(RESTORED) == 1
    assert sup.metric(LAST_OK) == 0
    assert "started on the last good config" in sup.output()


def live_hash(sup: SupervisorRun) -> str:
    """The live config's hash as /status shows it ("live <12 hex digits>...")."""
    return config_detail(sup).split()[1]


def assert_fixed_applies(sup: SupervisorRun, before: str) -> None:
    """The fixed site is applied (written, reloaded, read back from Asterisk) and the report
    clears."""
    sup.update_site(FIXED)
    wait_until(lambda: sup.metric(RESTORED) == 0, 30, what="the fixed site applied")
    assert sup.metric(LAST_OK) == 1
    detail = config_detail(sup)
    assert "rejected" not in detail
    assert before[:12] not in detail
    assert sup.ready()


def test_a_new_supervisor_beside_a_running_asterisk_starts_on_the_last_good_config(
    lab: Lab, run_dir: RunDir, started: Started, supervisors: list[SupervisorRun]
) -> None:
    """Sidecar mode: the supervisor killed, the ConfigMap made invalid, a new supervisor started
    while Asterisk runs on: it renders the last live config with its own AMI secret, Asterisk
    takes it (the new supervisor logs in: ready), the invalid site is reported located, and the
    fixed site applies."""
    first = supervisor(supervisors, lab, run_dir, ["--mode", "sidecar"], keep=False)
    wait_until(lambda: (run_dir.path("etc") / "pjsip.conf").exists(), 30, what="rendered")
    other = Asterisk(lab, run_dir).start()  # "the Asterisk container"
    started.add(other.stop)
    first.wait_ready(60)
    kept = live_hash(first)
    assert first.process is not None
    first.process.kill()
    first.process.wait(10)
    first.update_site(INVALID)
    second = supervisor(supervisors, lab, run_dir, ["--mode", "sidecar"], keep=True)
    assert_started_on_last_good(second, kept)
    assert other.alive()  # the same Asterisk throughout
    assert_fixed_applies(second, kept)


def test_a_pod_restart_with_an_invalid_configmap_starts_on_the_last_good_config(
    lab: Lab, run_dir: RunDir, supervisors: list[SupervisorRun]
) -> None:
    """Entrypoint mode, a new pod on the same volume (nothing rendered left) with an invalid
    ConfigMap: Asterisk starts on the last good config and the pod is ready; with the kept
    config gone too (a first boot), the supervisor refuses to start with the located error."""
    first = supervisor(supervisors, lab, run_dir, [], keep=False)
    first.wait_ready(60)
    kept = live_hash(first)
    first.signal(signal.SIGTERM)
    assert first.wait(40) == 0
    for rendered in run_dir.path("etc").iterdir():  # the pod's config directory is an emptyDir
        rendered.unlink()
    first.update_site(INVALID)
    second = supervisor(supervisors, lab, run_dir, [], keep=True)
    assert_started_on_last_good(second, kept)
    assert len(netns.asterisk_pids(lab.pod)) == 1
    assert_fixed_applies(second, kept)
    second.signal(signal.SIGTERM)
    assert second.wait(40) == 0
    second.update_site(INVALID)
    (run_dir.path("spool") / "supervisor" / "last-good.json").unlink()
    mark = len(second.output())  # the processes of a run share one log file
    third = supervisor(supervisors, lab, run_dir, [], keep=True)
    assert third.wait(30) == 1
    out = third.output()[mark:]
    assert "start-up failed: site rejected: " in out
    assert "site.yaml:1" in out
    assert netns.asterisk_pids(lab.pod) == []
