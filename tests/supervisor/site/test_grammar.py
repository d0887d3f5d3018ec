"""Field grammar (supervisor/site/grammar.py): values Asterisk or the C library would read as
something else are refused at their key."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.site.errors import SiteInvalid
from tests.supervisor.site.sites import base, load_dict


def problems(site: dict[str, Any]) -> list[str]:
    with pytest.raises(SiteInvalid) as info:
        load_dict(site)
    return [f"{p.file}:{p.line}: {p.key}: {p.message}" for p in info.value.problems]


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("0x7f.0.0.1", "the C library reads it as 127.0.0.1: 127.0.0.1 is a loopback address"),
        ("0x7f000001", "the C library reads it as 127.0.0.1"),
        ("0xe0.0.0.1", "224.0.0.1 is a multicast address"),
        ("0xcb.0.113.10", "the C library reads it as 203.0.113.10: write 203.0.113.10"),
        ("ip6-localhost", "is in every pod's /etc/hosts as a loopback or multicast address"),
        ("IP6-AllNodes", "is in every pod's /etc/hosts"),
        ("localhost.localdomain", "is in every pod's /etc/hosts"),
    ],
)
def test_host_names_the_c_library_reads_as_addresses_are_refused(host: str, why: str) -> None:
    """A trunk host the resolver turns into loopback, multicast or an address in disguise is
    refused at its key, like the literal would be."""
    site = base()
    site["trunks"]["provider"]["hosts"] = [host]
    site["trunks"]["provider"]["family"] = "ipv6"
    found = problems(site)
    assert len(found) == 1, found
    assert ": trunks.provider.hosts[0]: " in found[0]
    assert why in found[0]


def test_a_real_host_name_that_looks_like_hex_is_kept() -> None:
    """Only what inet_aton reads as an address is refused: `deadbeef.example` is a name."""
    site = base()
    site["trunks"]["provider"]["hosts"] = ["deadbeef.example"]
    site["trunks"]["provider"]["family"] = "ipv6"
    site["trunks"]["provider"]["identify"] = ["2001:db8:5060::10"]
    assert load_dict(site).site.trunks["provider"].hosts == ("deadbeef.example",)


@pytest.mark.parametrize("where", ["extension", "box"])
def test_hash_first_extension_or_box_number_is_refused_at_its_key(where: str) -> None:
    """`#11` as an extension or a voicemail box number: voicemail.conf would read `#11 => ...`
    as a directive, so the model refuses it with file, line and key."""
    site = base()
    if where == "extension":
        site["dialplan"]["extensions"]["#11"] = "desk"
        key = "dialplan.extensions.#11"
    else:
        site["endpoints"]["desk"]["voicemail"] = {"pin_secret": "desk-pin", "number": "#11"}
        key = "endpoints.desk.voicemail.number"
    found = problems(site)
    assert len(found) == 1, found
    assert found[0].startswith("site.yaml:")
    assert f": {key}: '#11' is not an extension number" in found[0]
    assert "not '#' first" in found[0]
    site = base()
    site["dialplan"]["extensions"]["*11#"] = "desk"  # '#' elsewhere is fine
    assert "*11#" in load_dict(site).site.dialplan.extensions
