"""The prompt list `check` uses is exactly what the Asterisk root filesystem installs."""

from __future__ import annotations

from pathlib import Path

from lab import prompts as generator
from supervisor.site import prompts


def test_prompt_list_is_generated_from_the_rootfs(rootfs: Path) -> None:
    """supervisor/site/prompts.txt matches the root filesystem's sounds (regenerate with
    `python -m lab.prompts` when image/packages.txt changes)."""
    assert generator.OUT.read_text() == generator.text(rootfs)
    assert {"hours", "digits/1", "pbx-invalid", "activated", "de-activated"} <= prompts.installed()
