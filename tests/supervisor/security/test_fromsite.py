"""The policy a site asks for: its thresholds, and every source it must never block."""

from __future__ import annotations

import ipaddress

from supervisor.security.fromsite import policy_settings
from supervisor.site.load import load_site_dirs
from tests.supervisor.site.sites import EXAMPLES


def test_home_exempts_trunk_devices_pod_and_loopback() -> None:
    """examples/home: the provider's host, the doorbell's identify, the pod's addresses and
    loopback are exempt; a scanner is not; the defaults are on (5 in 600 s, 3600 s)."""
    site = load_site_dirs([EXAMPLES / "home" / "site"], [EXAMPLES / "home" / "secrets"]).site
    settings = policy_settings(site)
    assert (
        settings.block,
        settings.max_failures,
        settings.window,
        settings.ban_time,
        settings.ipv6_prefix,
    ) == (True, 5, 600.0, 3600.0, 64)
    for address in (
        "2001:db8:5060::10",
        "198.51.100.20",
        "2001:db8:e8b1::1:1",
        "203.0.113.10",
        "127.0.0.1",
        "::1",
    ):
        assert settings.exempts(ipaddress.ip_address(address)), address
    assert not settings.exempts(ipaddress.ip_address("198.51.100.66"))
    assert not settings.exempts(ipaddress.ip_address("2001:db8:bad::66"))


def test_a_raw_snippet_cannot_define_the_blocked_acl_section() -> None:
    """raw pjsip.conf may not define [supervisor-blocked]: the guard's ACL owns that name."""
    import pytest

    from supervisor.site.errors import SiteInvalid
    from tests.supervisor.site.sites import base, load_dict

    site = base()
    site["raw"] = {"pjsip.conf": "[supervisor-blocked]\ntype = acl\npermit = 0.0.0.0/0\n"}
    with pytest.raises(SiteInvalid, match=r"section \[supervisor-blocked\] is generated"):
        load_dict(site)


def test_bad_security_settings_are_located_problems() -> None:
    """Out-of-range, mistyped and unknown `security` keys are refused as file:line: key: why."""
    import pytest

    from supervisor.site.errors import SiteInvalid
    from tests.supervisor.site.sites import base, load_dict

    cases = {
        "max_failures": (0, "security.max_failures: must be at least 1"),
        "ipv6_prefix": (40, "security.ipv6_prefix: must be at least 48"),
        "block": ("yes", "security.block: must be true or false"),
        "allow": (["not-an-ip"], "security.allow[0]:"),
    }
    for key, (value, message) in cases.items():
        site = base()
        site["security"] = {key: value}
        with pytest.raises(SiteInvalid) as caught:
            load_dict(site)
        (problem,) = [str(p) for p in caught.value.problems]
        assert problem.startswith("site.yaml:"), problem
        assert message in problem, problem
