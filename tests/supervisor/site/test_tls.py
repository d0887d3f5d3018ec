"""TLS transports, trunk certificate verification and SRTP in the site model and the renderer."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.pki import Ca
from supervisor.reload.build import Config
from supervisor.reload.plan import Live, plan
from supervisor.render import MODULE_OF_FILE, SECRET_FILES, RenderContext, render
from supervisor.site.errors import SiteInvalid
from supervisor.site.load import LoadedSite, load_site
from supervisor.site.mounts import read_mount
from tests.supervisor.render.asterisk_conf import find, parse
from tests.supervisor.site.sites import SECRETS, base, config_mount, load_dict, secret_mount

CA = Ca()
CERT = CA.issue(("pbx.example.org",))
CONTEXT = RenderContext(ami_secret="x")


def tls_site() -> dict[str, Any]:
    site = base()
    site["transports"] = {
        "udp6": {"family": "ipv6"},
        "udp4": {"family": "ipv4"},
        "tls6": {"family": "ipv6", "protocol": "tls"},
    }
    site["endpoints"]["desk"]["transport"] = "tls6"
    return site


def tls_secrets(**extra: str) -> dict[str, str]:
    return {**SECRETS, **CERT.secret_files(CA), **extra}


def problems(site: dict[str, Any], secrets: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SiteInvalid) as info:
        load_dict(site, tls_secrets() if secrets is None else secrets)
    return [f"{p.key}: {p.message}" for p in info.value.problems]


def pjsip(loaded: LoadedSite) -> Any:
    return parse(render(loaded, CONTEXT)["pjsip.conf"])


def test_tls_transport_defaults_render_cert_manager_keys_on_5061() -> None:
    """protocol tls alone: port 5061, tls.crt/tls.key/ca.crt from the Secret, safe versions."""
    loaded = load_dict(tls_site(), tls_secrets())
    files = render(loaded, CONTEXT)
    transport = find(parse(files["pjsip.conf"]), "tls6", "transport")
    assert transport.get("bind") == "[2001:db8:e8b1::1:1]:5061"
    assert transport.get("cert_file") == "/etc/asterisk/tls-tls6.crt"
    assert transport.get("priv_key_file") == "/etc/asterisk/tls-tls6.key"
    assert transport.get("ca_list_file") == "/etc/asterisk/tlsca-tls6.crt"
    assert transport.get("method") == "sslv23"
    assert "GCM" in (transport.get("cipher") or "")
    assert "CBC" not in (transport.get("cipher") or "")
    assert transport.get("allow_reload") == "no"
    assert transport.get("verify_server") == "no"  # phones only: no trunk to verify
    assert files["tls-tls6.crt"] == CERT.cert_pem
    assert files["tls-tls6.key"] == CERT.key_pem
    assert files["tlsca-tls6.crt"] == CA.cert_pem
    assert loaded.certificates["tls6"].fingerprint == CERT.fingerprint


def test_rotation_keeps_file_names_and_pjsip_conf() -> None:
    """A new certificate changes only the TLS files' content, never their names or pjsip.conf
    (Asterisk restarts a listener only for a changed file under the same name)."""
    old = render(load_dict(tls_site(), tls_secrets()), CONTEXT)
    new = render(load_dict(tls_site(), tls_secrets(**CA.issue().secret_files())), CONTEXT)
    assert set(old) == set(new)
    assert [n for n in old if old[n] != new[n]] == ["tls-tls6.crt", "tls-tls6.key"]


def test_tls_files_reload_res_pjsip_and_the_key_is_secret() -> None:
    """The TLS files map to a res_pjsip reload; the key file counts as a secret file."""
    assert MODULE_OF_FILE["tls-tls6.crt"] == "res_pjsip.so"
    assert MODULE_OF_FILE.get("tlsca-tls6.crt") == "res_pjsip.so"
    assert "tls-tls6.key" in SECRET_FILES
    assert "tls-tls6.crt" not in SECRET_FILES
    assert MODULE_OF_FILE.get("tls-a/b.crt") is None


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        (
            {"tls.key": CA.issue().key_pem},
            "transports.tls6.tls.cert_secret: secret key 'tls.key' is not the key of the "
            "certificate in secret key 'tls.crt'",
        ),
        (
            # The CA first, then the server's certificate: OpenSSL would serve the CA's.
            {"tls.crt": CA.cert_pem + CERT.cert_pem},
            "transports.tls6.tls.cert_secret: the server's certificate must come first in secret "
            "key 'tls.crt': secret key 'tls.key' is the key of certificate 2 of 2",
        ),
        (
            CA.issue(days=-1).secret_files(),
            "transports.tls6.tls.cert_secret: the certificate in secret key 'tls.crt' expired",
        ),
        (
            {"tls.crt": "hello"},
            "transports.tls6.tls.cert_secret: secret key 'tls.crt' is not a PEM certificate",
        ),
        (
            {"tls.key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
            "transports.tls6.tls.key_secret: secret key 'tls.key' is not a PEM private key",
        ),
        (
            {"ca.crt": "not a certificate"},
            "transports.tls6.tls.ca_secret: secret key 'ca.crt' is not a PEM certificate",
        ),
    ],
)
def test_bad_certificate_or_key_is_refused_with_its_key(
    secrets: dict[str, str], expected: str
) -> None:
    """A wrong pair, a chain in the wrong order, an expired or unparsable certificate, a broken
    key or CA: one precise line."""
    found = problems(tls_site(), tls_secrets(**secrets))
    assert len(found) == 1
    assert found[0].startswith(expected)
    assert "PRIVATE" not in found[0]


def test_not_yet_valid_certificate_is_refused() -> None:
    """A certificate whose validity starts in the future is refused, naming the date."""
    text = yaml.safe_dump(tls_site())
    mounts = [config_mount(("site.yaml", text))], [secret_mount(tls_secrets())]
    with pytest.raises(SiteInvalid, match="is not valid before"):
        load_site(*mounts, now=time.time() - 86400 * 2)
    # Issued "in the future" by a clock a minute ahead of ours: accepted (skew allowed).
    ahead = CA.issue(not_before=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1))
    assert load_dict(tls_site(), tls_secrets(**ahead.secret_files())).certificates["tls6"]
    assert load_site(*mounts).certificates["tls6"].fingerprint == CERT.fingerprint


def test_missing_key_names_the_secret_directory() -> None:
    """A tls transport whose key is not in the Secret is refused; a missing ca.crt is fine."""
    secrets = {k: v for k, v in tls_secrets().items() if k not in ("tls.key", "ca.crt")}
    assert problems(tls_site(), secrets) == [
        "transports.tls6.tls.key_secret: secret key 'tls.key' is not in the secrets (/secrets)"
    ]
    no_ca = {k: v for k, v in tls_secrets().items() if k != "ca.crt"}
    transport = find(pjsip(load_dict(tls_site(), no_ca)), "tls6", "transport")
    assert transport.get("ca_list_file") is None


def test_media_encryption_is_checked_against_the_transport() -> None:
    """sdes needs tls signalling (with a hint naming the tls transport); dtls is not for trunks;
    tls settings on a udp transport and tcp+tls on one port are refused."""
    site = tls_site()
    site["endpoints"]["desk"]["transport"] = "udp6"
    site["endpoints"]["desk"]["media_encryption"] = {"method": "sdes"}
    site["trunks"]["provider"]["media_encryption"] = {"method": "dtls"}
    site["transports"]["udp4"]["tls"] = {}
    site["transports"]["tcp6"] = {"family": "ipv6", "protocol": "tcp", "port": 5061}
    assert sorted(problems(site)) == [
        "endpoints.desk.media_encryption.method: sdes sends the media keys in the SDP, so it "
        "needs a tls transport (transport udp6 is udp): set transport to tls6",
        "transports.tcp6: binds the same tcp port as transport tls6",
        "transports.udp4.tls: only a tls transport has tls settings (protocol is udp)",
        "trunks.provider.media_encryption.method: dtls is for phones and WebRTC; providers use "
        "sdes (over a tls transport)",
    ]


def test_srtp_required_or_optional_renders_and_loads_res_srtp() -> None:
    """required: SRTP only; optional: offered with plain RTP accepted; res_srtp is loaded."""
    site = tls_site()
    site["endpoints"]["desk"]["media_encryption"] = {"method": "sdes"}
    site["endpoints"]["doorbell"]["media_encryption"] = {"method": "dtls", "required": False}
    files = render(load_dict(site, tls_secrets()), CONTEXT)
    conf = parse(files["pjsip.conf"])
    desk = find(conf, "desk", "endpoint")
    assert (desk.get("media_encryption"), desk.get("media_encryption_optimistic")) == ("sdes", "no")
    bell = find(conf, "doorbell", "endpoint")
    assert (bell.get("media_encryption"), bell.get("media_encryption_optimistic")) == (
        "dtls",
        "yes",
    )
    assert bell.get("dtls_auto_generate_cert") == "yes"
    assert "load = res_srtp.so" in files["modules.conf"]
    assert "res_srtp" not in render(load_dict(tls_site(), tls_secrets()), CONTEXT)["modules.conf"]


def test_trunk_over_tls_verifies_with_system_store_or_its_ca() -> None:
    """A trunk on a tls transport: port 5061 and ;transport=tls, verify_server on, the system
    CA store by default or the provider's CA from the Secret in the transport's bundle."""
    site = tls_site()
    site["trunks"]["provider"]["transport"] = "tls6"
    site["trunks"]["provider"]["media_encryption"] = {"method": "sdes"}
    no_ca = {k: v for k, v in tls_secrets().items() if k != "ca.crt"}
    conf = pjsip(load_dict(site, no_ca))
    transport = find(conf, "tls6", "transport")
    assert transport.get("verify_server") == "yes"
    assert transport.get("ca_list_path") == "/etc/ssl/certs"
    assert transport.get("ca_list_file") is None
    registration = find(conf, "provider", "registration")
    assert registration.get("server_uri") == "sip:[2001:db8:5060::10]:5061;transport=tls"
    assert find(conf, "provider", "aor").get("contact") == (
        "sip:[2001:db8:5060::10]:5061;transport=tls"
    )
    provider_ca = Ca("provider CA")
    site["trunks"]["provider"]["tls"] = {"ca_secret": "provider-ca.crt"}
    files = render(load_dict(site, {**no_ca, "provider-ca.crt": provider_ca.cert_pem}), CONTEXT)
    transport = find(parse(files["pjsip.conf"]), "tls6", "transport")
    assert transport.get("ca_list_path") is None
    assert files["tlsca-tls6.crt"] == provider_ca.cert_pem


def test_trunks_sharing_a_tls_transport_must_agree_on_verify() -> None:
    """Asterisk verifies per transport: two trunks on one with different verify are refused."""
    site = tls_site()
    site["trunks"]["provider"]["transport"] = "tls6"
    site["trunks"]["other"] = {
        "hosts": ["2001:db8:5060::11"],
        "transport": "tls6",
        "tls": {"verify": False},
    }
    assert problems(site) == [
        "trunks.other.tls.verify: trunk provider on transport tls6 has verify true: Asterisk "
        "verifies per transport, so trunks sharing one must agree (give this trunk its own tls "
        "transport)"
    ]
    del site["trunks"]["other"]
    site["trunks"]["provider"]["transport"] = "udp6"
    site["trunks"]["provider"]["tls"] = {"verify": True}
    assert problems(site) == [
        "trunks.provider.tls: tls settings need a tls transport (transport udp6 is udp)"
    ]


def test_rotation_plan_reloads_res_pjsip_and_needs_no_restart() -> None:
    """The reload plan of a renewed certificate: the certificate and key files written, one
    res_pjsip reload (it restarts only the TLS listener), no Asterisk restart; a changed TLS
    version is a transport change Asterisk does not reload, so it asks for a restart."""
    old = load_dict(tls_site(), tls_secrets())
    booted = Config(hash="a", loaded=old, files=render(old, CONTEXT))
    live = Live(booted=booted, files=dict(booted.files))
    new = load_dict(tls_site(), tls_secrets(**CA.issue().secret_files()))
    rotation = plan(live, Config(hash="b", loaded=new, files=render(new, CONTEXT)))
    assert rotation.changed == ("tls-tls6.crt", "tls-tls6.key")
    assert rotation.modules == ("res_pjsip.so",)
    assert rotation.restart == ()
    site = tls_site()
    site["transports"]["tls6"]["tls"] = {"min_version": "1.3"}
    stricter = load_dict(site, tls_secrets())
    change = plan(live, Config(hash="c", loaded=stricter, files=render(stricter, CONTEXT)))
    assert [str(r) for r in change.restart] == ["transport tls6 changed: method"]


def test_full_chain_with_the_server_certificate_first_is_served_whole() -> None:
    """cert-manager's tls.crt (server certificate, then its chain) is accepted and written whole;
    the fingerprint is the server certificate's."""
    loaded = load_dict(tls_site(), tls_secrets(**{"tls.crt": CERT.cert_pem + CA.cert_pem}))
    assert loaded.certificates["tls6"].fingerprint == CERT.fingerprint
    assert render(loaded, CONTEXT)["tls-tls6.crt"] == CERT.cert_pem + CA.cert_pem


def test_unreadable_certificate_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    """A certificate the Secret holds as DER (binary) or that cannot be read: refused with why,
    naming the Secret key (read from a real directory)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for key, value in tls_secrets().items():
        (secrets / key).write_text(value)
    der = x509.load_pem_x509_certificate(CERT.cert_pem.encode()).public_bytes(Encoding.DER)
    (secrets / "tls.crt").write_bytes(der)
    config = config_mount(("site.yaml", yaml.safe_dump(tls_site())))
    with pytest.raises(SiteInvalid) as info:
        load_site([config], [read_mount(secrets)])
    (problem,) = info.value.problems
    assert problem.key == "transports.tls6.tls.cert_secret"
    assert problem.message.startswith("secret key 'tls.crt' is binary")
