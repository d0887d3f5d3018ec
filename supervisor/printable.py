"""Text from the input shown on one line: every character that is not printable escaped."""

from __future__ import annotations


def escape(text: str) -> str:
    """`text` with every character that is not printable (line breaks of any kind, controls,
    bidi overrides) written as a Python escape; printable text is left as it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
