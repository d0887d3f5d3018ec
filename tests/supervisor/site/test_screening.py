"""Screening: caller numbers normalised per trunk, anonymous callers and blocklisted numbers sent
to `blocked`, the phones' block codes; model, rendering and explain."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from supervisor.render import RenderContext, render
from supervisor.site.errors import SiteInvalid
from supervisor.site.explain import explain, normalised
from tests.supervisor.site.flowsite import SECRETS, flow_site
from tests.supervisor.site.sites import load_dict

AT = datetime.datetime(2026, 12, 7, 10, 15, tzinfo=datetime.UTC)


def screened_site() -> dict[str, Any]:
    site = flow_site()
    site["trunks"]["provider"]["country_code"] = "49"
    site["dialplan"]["screening"] = {
        "reject_anonymous": True,
        "blocklist": ["+4915100000001"],
        "blocked": "hangup:busy",
        "block_code": "*60",
        "unblock_code": "*61",
        "country_code": "49",
    }
    return site


def extensions_conf(site: dict[str, Any]) -> str:
    return render(load_dict(site, SECRETS), RenderContext(ami_secret="x" * 16))["extensions.conf"]


@pytest.mark.parametrize(
    ("sent", "country", "number"),
    [
        ("015100000001", "49", "+4915100000001"),
        ("004315100", "49", "+4315100"),
        ("+4930123", "49", "+4930123"),
        ("015100000001", None, "015100000001"),
        ("anonymous", "49", ""),
        ("0151)}x", "49", ""),
        (None, "49", ""),
    ],
)
def test_caller_number_normalised(sent: str | None, country: str | None, number: str) -> None:
    """National and international forms become +CC...; anything but digits and + is no number."""
    assert normalised(sent, country) == number


def test_explain_screening_decisions() -> None:
    """Blocklist (national form from the trunk), anonymous, the phones' list, and a clean caller."""
    site = load_dict(screened_site(), SECRETS).site

    def end(caller: str | None, **kwargs: Any) -> tuple[str, str]:
        result = explain(site, "+4930123456", caller=caller, at=AT, **kwargs)
        return result.outcome.kind, result.outcome.detail

    assert end("015100000001") == ("hangup", "17")
    assert end(None) == ("hangup", "17")
    assert end("030999", blocked=["+4930999"]) == ("hangup", "17")
    assert end("030999", presses=["9"]) == ("hangup", "17")  # through the menu's 9 instead
    assert end("030999") == ("hangup", "16")  # through the menu: timeouts, then the kitchen
    assert "blocklist[0]" in explain(site, "+4930123456", caller="015100000001", at=AT).text()


def test_screening_rendered_before_routing() -> None:
    """Every inbound extension runs the screening subroutine first; the caller's number is
    filtered before any expression reads it; block codes key astdb by the filtered number."""
    text = extensions_conf(screened_site())
    trunk = text.split("[from-provider]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert trunk[:3] == [
        "exten => +4930123456,1,Gosub(screen-provider,s,1)",
        "same => n,GotoIf($[${FLOW_SCREENED}=1]?screen-provider,blocked,1)",
        "same => n,Goto(time-office,s,1)",
    ]
    screen = text.split("[screen-provider]\n", 1)[1].split("\n\n", 1)[0]
    assert "Set(UNSAFE_REST=${REPLACE(CALLERID(num),0123456789+)})" in screen
    assert "Set(SAFE_CALLER=${FILTER(0123456789+,${CALLERID(num)})})" in screen
    assert '"${SAFE_CALLER}"="+4915100000001"' in screen
    assert "GotoIf(${DB_EXISTS(supervisor-block/${SAFE_CALLER})}?blocked)" in screen
    assert "exten => blocked,1,Hangup(17)" in screen
    # CALLERID(num) is read only through REPLACE (by name) and FILTER.
    assert screen.count("CALLERID(num)") == 3
    assert "exten => _*60X.,1,Set(UNSAFE_REST=${REPLACE(EXTEN,0123456789*)})" in text
    assert "Set(DB(supervisor-block/${SAFE_BLOCK})=1)" in text


def test_block_code_must_not_shadow_extensions() -> None:
    """A block code that starts an extension number is refused at its key."""
    site = screened_site()
    site["dialplan"]["screening"]["block_code"] = "1"
    with pytest.raises(SiteInvalid) as caught:
        load_dict(site, SECRETS)
    assert [f"{p.key}: {p.message}" for p in caught.value.problems] == [
        "dialplan.screening.block_code: 11 starts with 1: phones could not dial it"
    ]
