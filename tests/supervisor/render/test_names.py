"""Generated file and section names are injective: two things of a site never share a file or a
section (a shared name would silently give one of them the other's content)."""

from __future__ import annotations

import collections
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.pki import Ca
from supervisor.render import RenderContext, render
from supervisor.render.pjsip import TLS_FILE_RE, tls_files
from supervisor.site.grammar import NAME_RE
from tests.supervisor.render.asterisk_conf import parse
from tests.supervisor.site.sites import SECRETS, base, load_dict

CA = Ca("names CA")
CERT = CA.issue()
CONTEXT = RenderContext(ami_secret="x")
# Names built to collide under a careless scheme: suffixes and prefixes of the generated names.
TRICKY = ["a", "a-ca", "ca-a", "tls-a", "a.crt", "a.key", "from-a", "ring-a", "menu-a", "time-a"]
names = st.one_of(st.sampled_from(TRICKY), st.from_regex(NAME_RE, fullmatch=True))


def test_a_transport_named_like_another_ones_ca_file_gets_its_own_files() -> None:
    """Transports tls6 and tls6-ca (issue 26): six distinct files, each transport's certificate
    its own, never the other's CA bundle."""
    site = base()
    site["transports"] = {
        "udp6": {"family": "ipv6"},
        "udp4": {"family": "ipv4"},
        "tls6": {"family": "ipv6", "protocol": "tls"},
        "tls6-ca": {"family": "ipv6", "protocol": "tls", "port": 5062},
    }
    files = render(load_dict(site, {**SECRETS, **CERT.secret_files(CA)}), CONTEXT)
    tls = sorted(name for name in files if TLS_FILE_RE.fullmatch(name))
    assert len(tls) == 6
    assert files["tls-tls6-ca.crt"] == CERT.cert_pem
    assert files["tlsca-tls6.crt"] == CA.cert_pem


@given(st.lists(names, min_size=2, max_size=6, unique=True))
def test_tls_file_names_are_injective(transports: list[str]) -> None:
    """Distinct transports never share a file name, whatever their names."""
    files = [f for name in transports for f in tls_files(name)]
    assert len(set(files)) == len(files) == 3 * len(transports)
    assert all(TLS_FILE_RE.fullmatch(f) for f in files)


@settings(max_examples=25, deadline=None)
@given(
    transports=st.lists(names, max_size=3, unique=True),
    groups=st.lists(names, max_size=3, unique=True),
    trunks=st.lists(names, max_size=2, unique=True),
)
def test_rendered_sections_and_files_never_collide(
    transports: list[str], groups: list[str], trunks: list[str]
) -> None:
    """For a site whose tls transports, ring groups and trunks take names from the same
    pool: every TLS file is written once per transport, every extensions.conf context once, and
    every pjsip.conf (section, type) once."""
    site: dict[str, Any] = base()
    site["transports"] = {"udp6": {"family": "ipv6"}, "udp4": {"family": "ipv4"}} | {
        name: {"family": "ipv6", "protocol": "tls", "port": 5061 + i}
        for i, name in enumerate(t for t in transports if t not in ("udp6", "udp4"))
    }
    for name in groups:
        site["dialplan"]["ring_groups"].setdefault(name, {"endpoints": ["desk"]})
    for i, name in enumerate(trunks):
        if name in site["endpoints"]:
            continue
        site["trunks"].setdefault(name, {"hosts": [f"2001:db8:5061::{i + 1}"], "family": "ipv6"})
    files = render(load_dict(site, {**SECRETS, **CERT.secret_files(CA)}), CONTEXT)
    tls_count = len(site["transports"]) - 2
    assert sum(1 for name in files if TLS_FILE_RE.fullmatch(name)) == 3 * tls_count
    contexts = [s.name for s in parse(files["extensions.conf"])]
    assert [c for c, n in collections.Counter(contexts).items() if n > 1] == []
    sections = [(s.name, s.get("type")) for s in parse(files["pjsip.conf"])]
    assert [c for c, n in collections.Counter(sections).items() if n > 1] == []
