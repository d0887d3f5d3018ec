"""The facts about the image's Asterisk: derived from its own documentation and modules, and
read through one typed API."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.asterisk_facts import OUTPUT, derive, render
from supervisor.asterisk_facts import BUILTIN, facts


@pytest.mark.lab
def test_committed_facts_are_what_the_rootfs_gives(rootfs: Path) -> None:
    """Regenerating the facts from the lab's Asterisk gives the committed file byte for byte
    (an Asterisk upgrade shows up here: run `python -m lab.asterisk_facts`)."""
    assert render(derive(rootfs)) == OUTPUT.read_text()


def test_applications_and_functions_name_their_modules() -> None:
    """Applications match without regard to case and name their module; functions keep case."""
    known = facts()
    assert known.application("playback") == ("Playback", ("app_playback",))
    assert known.application("Answer") == ("Answer", (BUILTIN,))
    assert known.application("NoSuchApp") is None
    assert known.function("DB") == ("func_db",)
    assert known.function("db") is None
    # A module built from several files is named by its module, not the source file.
    assert known.application("Park") == ("Park", ("res_parking",))


def test_closure_puts_dependencies_first() -> None:
    """A module's closure lists what it needs before it, each once."""
    order = facts().closure(["res_pjsip_refer"])
    assert order[-1] == "res_pjsip_refer"
    assert order.index("res_pjsip") < order.index("res_pjsip_session")
    assert len(order) == len(set(order))


def test_pjsip_options_by_object_type() -> None:
    """pjsip.conf options are known per object type, with documented values where listed."""
    endpoint = facts().pjsip("endpoint")
    assert endpoint is not None
    assert "res_pjsip" in endpoint.modules
    dtmf = endpoint.options["dtmf_mode"]
    assert dtmf.default == "rfc4733"
    assert dtmf.bad_value("info") is None
    assert dtmf.bad_value("loud") is not None
    assert "server_uri" in facts().pjsip("registration").options  # type: ignore[union-attr]
    assert "server_uri" not in endpoint.options
    assert facts().pjsip("no_such_type") is None
