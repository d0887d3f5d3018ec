"""lab.container.PodContainer: what the container tests take from the Deployment (no root)."""

from __future__ import annotations

from itertools import pairwise

from lab import k8s
from lab.container import PodContainer
from lab.image import image_facts


def test_the_deployments_container_is_read_as_podman_needs_it() -> None:
    """The Deployment's container: uid/gid 101, fsGroup, read-only root, all capabilities
    dropped, no privilege escalation, its grace period, its args, each mount with its kind."""
    spec = PodContainer.from_deployment(k8s.one(k8s.build(), "Deployment"))
    facts = image_facts()
    assert (spec.uid, spec.gid, spec.fs_group) == (facts.uid, facts.gid, facts.gid)
    assert spec.read_only_root
    assert spec.drop_all_capabilities
    assert spec.no_new_privileges
    drain = dict(pairwise(spec.args))["--drain-timeout"]
    assert spec.grace_s == int(drain) + 5
    by_path = {m.path: m for m in spec.mounts}
    for volume in facts.volumes:
        mount = by_path[str(volume)]
        assert not mount.read_only
        assert mount.kind in ("emptyDir", "persistentVolumeClaim"), mount
    for flag, kind in (("--config", "configMap"), ("--secrets", "secret")):
        paths = [v for f, v in pairwise(spec.args) if f == flag]
        assert paths, flag
        for path in paths:
            assert by_path[path].kind == kind
            assert by_path[path].read_only


def test_the_image_defaults_mount_an_empty_dir_on_each_volume() -> None:
    """Without a Deployment: the image's CMD, an emptyDir on every VOLUME, site and Secret."""
    facts = image_facts()
    spec = PodContainer.image_defaults(facts)
    assert spec.args == facts.cmd
    assert {m.path for m in spec.mounts if m.kind == "emptyDir"} == {str(v) for v in facts.volumes}
    assert {m.path for m in spec.mounts if m.read_only} == {str(p) for p in facts.mount_points}
