"""A report as a readable table (expected against actual) or as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from supervisor.addresses.model import Report


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def format_table(report: Report) -> str:
    lines = _table(
        ("ADDRESS", "FAMILY", "REQUIRED", "STATE", "INTERFACE", "PREFIX", "BINDABLE", "SCOPE"),
        [
            (
                str(s.expected.address),
                s.expected.family,
                _yes(s.expected.required),
                s.state,
                s.interface or "-",
                f"{'-' if s.prefixlen is None else f'/{s.prefixlen}'} "
                f"(want /{s.expected.expected_prefixlen})",
                _yes(s.bindable),
                s.scope.value,
            )
            for s in report.addresses
        ],
    )
    if report.egress:
        lines.append("")
        lines += _table(
            ("TRUNK", "FAMILY", "PROVIDER", "EXPECTED SOURCE", "SELECTED SOURCE", "CORRECT"),
            [
                (
                    e.trunk,
                    e.family,
                    str(e.provider or "-"),
                    str(e.expected or "-"),
                    str(e.selected or "-"),
                    _yes(e.correct),
                )
                for e in report.egress
            ],
        )
    lines.append("")
    lines += [f"{f.severity}: {f.message}" for f in report.findings] or ["ok: no problems"]
    return "\n".join(lines) + "\n"


def format_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"
