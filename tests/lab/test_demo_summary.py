"""The demo's closing summary: whatever the supervisor's counts say (or if it says nothing), it
prints placed against counted with each difference explained, and never raises."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from lab.__main__ import summary


class Scrape:
    """A supervisor's /metrics as the demo reads it: fixed values, or unreachable."""

    def __init__(self, values: Mapping[str, float | None], *, down: bool = False) -> None:
        self.values = values
        self.down = down

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        if self.down:
            raise OSError("connection refused")
        key = name if not labels else f"{name}:{labels.get('outcome')}"
        return self.values.get(key)


@pytest.mark.parametrize(
    ("scrape", "placed", "expected"),
    [
        (
            Scrape({"asterisk_supervisor_calls_active": 0.0, "c:answered": 3.0}),
            3,
            "every placed call was counted, each once",
        ),
        (
            Scrape({"asterisk_supervisor_calls_active": 1.0, "c:answered": 2.0, "c:lost": 1.0}),
            4,
            "1 call(s) still active",
        ),
        (
            Scrape({"asterisk_supervisor_calls_active": 0.0, "c:lost": 2.0, "c:answered": 1.0}),
            3,
            "counted as lost at the re-sync",
        ),
        (
            Scrape({"asterisk_supervisor_calls_active": 0.0, "c:answered": 1.0}),
            3,
            "2 call(s) never reached the supervisor's view",
        ),
        (Scrape({}, down=True), 3, "/metrics did not answer"),
        (Scrape({"asterisk_supervisor_calls_active": None}), 1, "active calls are unknown"),
        (
            Scrape({"asterisk_supervisor_calls_active": 0.0, "c:answered": 5.0}),
            3,
            "2 call(s) came from elsewhere",
        ),
    ],
)
def test_summary_explains_every_difference_and_never_raises(
    scrape: Scrape, placed: int, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each kind of mismatch (stuck active call, lost, uncounted, extra, no metrics) is named."""
    scrape.values = {
        k.replace("c:", "asterisk_supervisor_calls_total:"): v for k, v in scrape.values.items()
    }
    summary(scrape, placed, placed, settle_s=0.2)
    out = capsys.readouterr().out
    assert f"summary: {placed} doorbell calls placed" in out
    assert expected in out, out
