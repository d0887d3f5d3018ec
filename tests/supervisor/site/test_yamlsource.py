"""Where a raw snippet's problem is reported: the line of the file it is on, for every style of
YAML scalar."""

from __future__ import annotations

import pytest

from supervisor.site.errors import SiteInvalid
from tests.supervisor.site.sites import load_text

HEAD = "addresses: {ipv6: 2001:db8:e8b1::1:1}\n"


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        # Line 3 of the snippet, in a block scalar: 3 (the key and `|`) + 1 + 2.
        ("raw:\n  extensions.conf: |\n    [x]\n    a = 1\n    #exec /bin/sh\n", 6),
        # The same snippet quoted on the key's line: one file line holds it all.
        ('raw:\n  extensions.conf: "[x]\\na = 1\\n#exec /bin/sh\\n"\n', 3),
        # Quoted, starting on the line after its key.
        ("raw:\n  extensions.conf:\n    '[x]\n\n    #exec /bin/sh'\n", 4),
    ],
)
def test_raw_problem_is_reported_at_its_true_line(raw: str, line: int) -> None:
    """A #exec in a raw snippet is reported at the file line that holds it (a quoted scalar:
    its first line, never lines past it)."""
    with pytest.raises(SiteInvalid) as info:
        load_text(HEAD + raw)
    found = [p for p in info.value.problems if "#exec" in p.message]
    assert [(p.file, p.line, p.key) for p in found] == [("site.yaml", line, "raw.extensions.conf")]
