"""The configuration reference, generated from the spec dataclasses themselves (docs/config.md).

Generating it keeps the documentation and the validator from drifting apart: a test regenerates the page
and compares it with the committed one.
"""

from __future__ import annotations

import dataclasses

from neurosim.spec.chip import ChipSpec
from neurosim.spec.fields import yaml_key
from neurosim.spec.workload import WorkloadSpec

_UNITS = {"Hz": "Hz", "s": "s", "J": "J", "S": "S"}


def _rows(cls: type, prefix: str) -> list[str]:
    rows = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{yaml_key(f)}"
        if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory):
            rows.extend(_rows(f.default_factory, f"{key}."))
            continue
        unit = f.metadata.get("unit") or ""
        if f.default is dataclasses.MISSING:
            default = "required"
        elif f.default is None:
            default = "null"
        elif isinstance(f.default, tuple):
            default = str(list(f.default)) if f.default else "{}" if f.metadata.get("mapping") else "[]"
        else:
            default = repr(f.default) if isinstance(f.default, str) else f"{f.default:g}" if isinstance(
                f.default, float) else str(f.default)
        doc = f.metadata.get("doc", "").replace("|", "\\|")
        rows.append(f"| `{key}` | {unit} | {default} | {doc} |")
    return rows


def config_reference() -> str:
    head = "| key | unit | default | meaning |\n| --- | --- | --- | --- |"
    return "\n".join([
        "# Configuration reference",
        "",
        "Generated from `neurosim/spec/` by `python -m neurosim.spec.reference > docs/config.md`; do not edit.",
        "Quantities with a unit take an SI string (`\"10 MHz\"`, `\"50 ns\"`, `\"1.3 pJ\"`, `\"2 uS\"`) or a plain",
        "number in that base unit. Every key can be overridden with `--set KEY=VALUE` (chip keys with `chip.`).",
        "",
        "## Chip file (one top-level `chip:` section)",
        "",
        head,
        *_rows(ChipSpec, "chip."),
        "",
        "## Workload file",
        "",
        head,
        *_rows(WorkloadSpec, ""),
        "",
    ])


if __name__ == "__main__":
    print(config_reference(), end="")
