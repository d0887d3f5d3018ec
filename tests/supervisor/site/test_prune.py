"""prune: cutting failed entries out for a second look, and what may be reported after."""

from __future__ import annotations

from supervisor.site.prune import prune
from tests.supervisor.site.sites import base


def test_failed_entries_are_cut_out_and_the_input_kept() -> None:
    """Failed endpoints, trunks and dialplan keys are removed from a copy; routes go as a whole."""
    data = base()
    pruned = prune(
        data,
        [
            ("endpoints", "desk", "qualify"),
            ("trunks", "provider", "hosts", 0),
            ("dialplan", "extensions", "11"),
            ("dialplan", "outbound", 0, "pattern"),
            ("user_agent",),
        ],
    )
    assert pruned is not None
    assert set(pruned.data["endpoints"]) == {"doorbell"}
    assert pruned.data["trunks"] == {}
    assert pruned.data["dialplan"]["extensions"] == {}
    assert "outbound" not in pruned.data["dialplan"]
    assert set(data["endpoints"]) == {"desk", "doorbell"}  # the input is untouched


def test_nothing_to_look_at_without_addresses_or_a_collection() -> None:
    """A failure in addresses, or a collection of the wrong type, ends the second look."""
    assert prune(base(), [("addresses", "ipv6")]) is None
    assert prune(base(), [("endpoints",)]) is None


def test_findings_that_could_come_from_the_pruning_are_left_out() -> None:
    """Messages naming a dropped entry, DIDs after a dropped trunk, transports after a dropped
    transport are not reported; others are."""
    pruned = prune(base(), [("endpoints", "desk", "qualify"), ("trunks", "provider", "port")])
    assert pruned is not None
    assert not pruned.keeps("unknown endpoint, ring group or flow 'desk'")
    assert not pruned.keeps("no trunk lists +4930 in its dids")
    assert pruned.keeps("unknown context 'interal'; did you mean 'internal'?")
