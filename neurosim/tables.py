"""The one text-table layout of the command line (report, sweep, the τθ study): columns padded to their
widest cell, two spaces apart, a rule of dashes under the header."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The rows under the header, left-aligned, trailing spaces trimmed."""
    table = [list(header), *[list(row) for row in rows]]
    if any(len(row) != len(header) for row in table):
        raise ValueError("text_table: every row needs one cell per column")
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
