"""The command line's text layouts: the one table (report, sweep, the τθ study: columns padded to their
widest cell, two spaces apart, a rule of dashes under the header) and the lines of a summary's hardware
figures that ``train`` and ``estimate`` both print."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neurosim.results import Summary


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The rows under the header, left-aligned, trailing spaces trimmed."""
    table = [list(header), *[list(row) for row in rows]]
    if any(len(row) != len(header) for row in table):
        raise ValueError("text_table: every row needs one cell per column")
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def optional(value: Any, spec: str) -> str:
    """``value`` formatted by ``spec``, or "-" where the summary has none (an unevaluated accuracy)."""
    return "-" if value is None else format(value, spec)


def lifetime(trainings: float | None) -> str:
    """A lifetime in trainings; unlimited where no device is written (None) or none wears out (inf)."""
    return "unlimited" if trainings is None or not math.isfinite(trainings) else f"{trainings:.4g} trainings"


def ledger_lines(s: Summary) -> list[str]:
    """The hardware figures every summary has (``train``'s and ``estimate``'s alike), one per line: the
    simulated time at the clock, the energy by component, the writes and the lifetime they leave."""
    from neurosim.spec.units import format_duration, format_quantity

    lines = [f"  simulated time       {format_duration(s.simulated_time_s)} at {format_quantity(s.clock_hz, 'Hz')}",
             f"  energy               {format_quantity(s.energy_j, 'J')}"]
    lines += [f"    {name:<22} {format_quantity(value, 'J')}" for name, value in s.energy_by_component_j.items()]
    most = s.weight_writes_max_per_device  # a count in a training's summary, an expectation in an estimate's
    lines += [f"  weight writes        {s.weight_writes_total} total, max {most if isinstance(most, int) else f'{most:.4g}'} "
              f"per device ({s.endurance_used_max:.3g} of endurance)",
              f"  lifetime             {lifetime(s.lifetime_trainings_first_failure)} to the first device failure"]
    return lines
