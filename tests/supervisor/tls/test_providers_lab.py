"""A trunk over TLS to a real provider (a sipp TLS registrar): with a certificate from a CA
nobody trusts, Asterisk refuses it and the supervisor says why; with the provider's CA in the
Secret, the same trunk registers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import netns, sipp, sites
from lab.asterisk import wait_until
from lab.kubelet import write_mount
from lab.pki import Ca
from lab.reloadpbx import LabPbx
from supervisor.site.load import load_site
from supervisor.site.mounts import read_mount
from supervisor.tls.providers import ProviderCertificates

pytestmark = pytest.mark.lab

PBX_CA = Ca("pbx CA")
PROVIDER_CA = Ca("provider's own CA")


def tls_trunk_site(ca_secret: str | None = None) -> dict[str, Any]:
    """The home site whose provider trunk registers over a tls transport (port 5061)."""
    site = sites.home()
    site["transports"]["tls6"] = {"family": "ipv6", "protocol": "tls"}
    site["trunks"]["provider"]["transport"] = "tls6"
    if ca_secret is not None:
        site["trunks"]["provider"]["tls"] = {"ca_secret": ca_secret}
    return site


@pytest.fixture(scope="module")
def pbx(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabPbx]:
    the_pbx = LabPbx(rootfs, tmp_path_factory.mktemp("mounts"))
    try:
        the_pbx.set_site(tls_trunk_site())
        values = {
            **sites.secrets(the_pbx.password),
            **PBX_CA.issue((netns.POD_V6,)).secret_files(PBX_CA),
            "provider-ca.crt": PROVIDER_CA.cert_pem,
        }
        write_mount(the_pbx.secrets, values, mode=0o600)
        # The provider answers on TLS with a certificate for its address from its own CA.
        tls = sipp.tls_args(the_pbx.run, "provider", PROVIDER_CA.issue((netns.PROVIDER_V6,)))
        registrar = sipp.registrar(
            the_pbx.lab,
            the_pbx.run,
            netns.PROVIDER_V6,
            "pod1",
            the_pbx.password,
            5061,
            transport=tls,
        )
        the_pbx.stoppers.append(registrar.stop)
        yield the_pbx.start()
    finally:
        the_pbx.stop()


def status(pbx: LabPbx) -> str:
    assert pbx.ami is not None
    reply = pbx.ami.action({"Action": "PJSIPShowRegistrationsOutbound"})
    return next(m["Status"] for m in reply if m.get("Event") == "OutboundRegistrationDetail")


def register_now(pbx: LabPbx) -> None:
    assert pbx.ami is not None
    pbx.ami.action({"Action": "PJSIPRegister", "Registration": "provider"})


def check_providers(pbx: LabPbx) -> ProviderCertificates:
    """The supervisor's provider check, run from the pod on the live mounts' site."""
    checker = ProviderCertificates()
    checker.expect(load_site([read_mount(pbx.site)], [read_mount(pbx.secrets)]))
    assert pbx.pod_loop is not None
    pbx.pod_loop.run(checker.verify(), 20)
    return checker


async def test_untrusted_provider_certificate_fails_with_a_clear_reason(pbx: LabPbx) -> None:
    """Verification on by default, the system store: Asterisk refuses the provider (Rejected,
    "The certificate is untrusted" in its log) and /status names the reason."""
    register_now(pbx)
    wait_until(lambda: status(pbx) == "Rejected", 15, 0.2, "the registration refused")
    assert "The certificate is untrusted" in pbx.asterisk.log_text()
    (check,) = check_providers(pbx).checks()
    assert check.name == "trunk tls provider"
    assert not check.ok
    assert check.detail == (
        "the provider's certificate is not trusted: unable to get local issuer certificate "
        "(checked against the system CA store)"
    )


async def test_provider_ca_from_the_secret_makes_the_trunk_register(pbx: LabPbx) -> None:
    """The same provider with its CA given as tls.ca_secret: the apply puts it in the
    transport's bundle, the trunk registers, and the supervisor's check passes."""
    pbx.set_site(tls_trunk_site("provider-ca.crt"))
    result = await pbx.applier().apply()
    assert result.outcome == "applied", result.problems
    assert "tlsca-tls6.crt" in result.changed
    register_now(pbx)
    wait_until(lambda: status(pbx) == "Registered", 15, 0.2, "the registration accepted")
    (check,) = check_providers(pbx).checks()
    assert check.ok, check.detail
