"""Phone feature codes in the site model: FreePBX defaults, each code can be turned off,
clashes with extensions and other codes are located errors, only authenticating phones have
the features; `explain` models do-not-disturb and forwards."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from supervisor.site.errors import SiteInvalid
from supervisor.site.explain import explain, explain_extension
from tests.supervisor.site.sites import SECRETS, base, load_dict

AT = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)
PHONE_SECRETS = {**SECRETS, "kitchen-password": "k-secret", "desk-pin": "2468"}


def site() -> dict[str, Any]:
    """desk (box 11), kitchen (12), a doorbell; the DID rings desk; group `all` both phones."""
    data = base()
    data["endpoints"]["desk"]["voicemail"] = {"pin_secret": "desk-pin"}
    data["endpoints"]["kitchen"] = {"auth": {"password_secret": "kitchen-password"}}
    plan = data["dialplan"]
    plan["extensions"] = {"11": "desk", "12": "kitchen"}
    plan["ring_groups"] = {"all": {"endpoints": ["desk", "kitchen"], "ring_time": 20}}
    plan["inbound"] = {"+4930123456": "desk"}
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SiteInvalid) as caught:
        load_dict(data, PHONE_SECRETS)
    return [f"{p.key}: {p.message}" for p in caught.value.problems]


def test_defaults_are_freepbx_codes_and_only_phones_with_auth_have_them() -> None:
    """*78/*79, *72/*73, *90/*91, *52/*53 by default; the doorbell (identified) has none."""
    loaded = load_dict(site(), PHONE_SECRETS).site
    features = loaded.dialplan.features
    assert features is not None
    assert features.codes() == {
        "dnd_on": "*78",
        "dnd_off": "*79",
        "forward_on": "*72",
        "forward_off": "*73",
        "forward_busy_on": "*90",
        "forward_busy_off": "*91",
        "forward_noanswer_on": "*52",
        "forward_noanswer_off": "*53",
    }
    assert loaded.featured_phones() == ["desk", "kitchen"]


def test_features_null_or_every_code_null_turns_them_off() -> None:
    """`features: null`, or every code null, leaves no phone with the features."""
    data = site()
    data["dialplan"]["features"] = None
    assert load_dict(data, PHONE_SECRETS).site.featured_phones() == []
    codes = ("dnd", "forward", "forward_busy", "forward_noanswer")
    data["dialplan"]["features"] = {f"{c}_{s}": None for c in codes for s in ("on", "off")}
    assert load_dict(data, PHONE_SECRETS).site.featured_phones() == []


def test_a_code_clashing_with_an_extension_or_another_code_is_located() -> None:
    """A code equal to an extension, to the pickup code or to another code is refused at its
    key; an extension starting with a forward code is refused at the forward code."""
    data = site()
    data["dialplan"]["extensions"]["*78"] = "desk"
    data["dialplan"]["features"] = {"forward_busy_on": "*8", "forward_off": "*72"}
    data["dialplan"]["extensions"]["*521"] = "kitchen"
    found = problems(data)
    assert "dialplan.features.dnd_on: *78 is also dialplan.extensions" in found
    assert "dialplan.features.forward_busy_on: *8 is also dialplan.pickup" in found
    assert "dialplan.features.forward_off: *72 is also dialplan.features.forward_on" in found
    assert (
        "dialplan.features.forward_noanswer_on: *521 (dialplan.extensions) starts with *52: "
        "phones could not dial it"
    ) in found


def test_a_bad_code_or_limit_is_a_located_error() -> None:
    """A code that is no extension and a forward limit out of range name their keys."""
    data = site()
    data["dialplan"]["features"] = {"dnd_on": "*7a", "max_forward_digits": 99}
    found = problems(data)
    assert any(p.startswith("dialplan.features.dnd_on: ") for p in found), found
    assert any(p.startswith("dialplan.features.max_forward_digits: ") for p in found), found


def test_explain_dnd_skips_the_ring_and_leaves_the_group() -> None:
    """With desk on do-not-disturb, a call to it goes to its box unrung; the group rings
    kitchen alone; with both on, nobody rings."""
    loaded = load_dict(site(), PHONE_SECRETS).site
    result = explain(loaded, "+4930123456", at=AT, dnd=["desk"])
    assert (result.rings(), result.outcome.kind, result.outcome.detail) == ([], "voicemail", "11")
    assert explain(loaded, "+4930123456", at=AT).rings() == [(("desk",), 30)]
    data = site()
    data["dialplan"]["inbound"]["+4930123456"] = "all"
    group = explain(load_dict(data, PHONE_SECRETS).site, "+4930123456", at=AT, dnd=["desk"])
    assert group.rings() == [(("kitchen",), 20)]
    everyone = ["desk", "kitchen"]
    nobody = explain(load_dict(data, PHONE_SECRETS).site, "+4930123456", at=AT, dnd=everyone)
    assert (nobody.rings(), nobody.outcome.kind) == ([], "hangup")
    dialled = explain_extension(loaded, "12", at=AT, dnd=["kitchen"])
    assert (dialled.rings(), dialled.outcome.kind) == ([], "hangup")


def test_explain_follows_forwards_once() -> None:
    """An unconditional forward to 12 rings kitchen instead, then desk's box; a no-answer
    forward rings desk first; kitchen's own forward back to desk is not followed (no loop)."""
    loaded = load_dict(site(), PHONE_SECRETS).site
    always = explain(loaded, "+4930123456", at=AT, forwards={"desk": {"always": "12"}})
    assert always.rings() == [(("kitchen",), 30)]
    assert (always.outcome.kind, always.outcome.detail) == ("voicemail", "11")
    late = explain(loaded, "+4930123456", at=AT, forwards={"desk": {"noanswer": "12"}})
    assert late.rings() == [(("desk",), 30), (("kitchen",), 30)]
    loop = {"desk": {"always": "12"}, "kitchen": {"always": "11"}}
    assert explain(loaded, "+4930123456", at=AT, forwards=loop).rings() == [(("kitchen",), 30)]
    outside = explain(loaded, "+4930123456", at=AT, forwards={"desk": {"always": "0301234"}})
    assert outside.rings() == []
    assert any("no internal extension" in s.text for s in outside.steps)


def test_a_code_equal_to_a_block_code_is_located() -> None:
    """The phones' blocklist code and a feature code share the dialling space."""
    data = site()
    data["dialplan"]["screening"] = {"block_code": "*78"}
    assert "dialplan.features.dnd_on: *78 is also dialplan.screening.block_code" in problems(data)


def test_any_code_agrees_with_codes() -> None:
    """any_code() (asked per phone rung) is true exactly when codes() lists one."""
    features = load_dict(site(), PHONE_SECRETS).site.dialplan.features
    assert features is not None
    assert features.any_code() is bool(features.codes()) is True
    off = features.model_copy(update=dict.fromkeys(features.codes()))
    assert off.any_code() is bool(off.codes()) is False
