"""What kind of neurosim file a path holds (chip, workload or sweep), validated alone.

It sits above both ``spec`` and ``sweep``, so that neither needs to import the other to tell the kinds apart.
"""

from __future__ import annotations

from pathlib import Path

from neurosim.spec.loader import load_chip, load_workload, read_yaml
from neurosim.sweep import load_sweep


def validate_file(path: str | Path) -> str:
    """Validate a chip, workload or sweep file alone; return which kind it was."""
    data = read_yaml(path)
    if isinstance(data, dict) and "grid" in data:
        load_sweep(path)
        return "sweep"
    if isinstance(data, dict) and "chip" in data:
        load_chip(path)
        return "chip"
    load_workload(path)
    return "workload"
