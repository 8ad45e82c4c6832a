"""Readable tables plus exactly one final JSON line: the output contract of eval, bench and stats commands."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any, TextIO


def display_width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(display_width(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "  ".join(c + " " * (w - display_width(c)) for c, w in zip(r, widths, strict=True)).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_report(headers: Sequence[str], rows: Sequence[Sequence[Any]], metrics: dict[str, Any],
                 out: TextIO | None = None) -> None:
    """Print the table, then the metrics as the last line, a single JSON object."""
    out = out or sys.stdout  # looked up per call, so redirected stdout (tests, pipes) is honoured
    print(format_table(headers, rows), file=out)
    print(json.dumps(metrics, ensure_ascii=False, sort_keys=True), file=out)
