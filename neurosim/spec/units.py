"""SI quantities in configuration files: ``"1 MHz"``, ``"50 ns"``, ``"1.3 pJ"`` or plain base-unit numbers.

Every physical value enters the simulator through :func:`parse_quantity`, so that the rest of the code
only ever sees floats in base SI units (Hz, s, J, W, V, S, A, F, Ohm).
"""

from __future__ import annotations

import math
import re

PREFIXES: dict[str, float] = {
    "y": 1e-24, "z": 1e-21, "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6,
    "μ": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
}
UNITS: tuple[str, ...] = ("Hz", "s", "J", "W", "V", "S", "A", "F", "Ohm")

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([a-zA-Zµμ]*)\s*$")


class QuantityError(ValueError):
    """A value that is not a number or a quantity in the expected unit."""


def parse_quantity(value: object, unit: str) -> float:
    """Return ``value`` in base units of ``unit``; plain numbers are taken as already in base units."""
    if isinstance(value, bool):
        raise QuantityError(f"a quantity in {unit}, got a boolean")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            digits = len(str(abs(value)))
            raise QuantityError(f"a finite quantity in {unit}, got an integer of {digits} digits") from None
    elif isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match:
            raise QuantityError(f"a quantity in {unit} such as '10 {unit}' or a number, got {value!r}")
        number = float(match.group(1))
        suffix = match.group(2)
        if suffix:
            number *= _scale(suffix, unit, value)
    else:
        raise QuantityError(f"a quantity in {unit}, got {type(value).__name__}")
    if not math.isfinite(number):
        raise QuantityError(f"a finite quantity in {unit}, got {value!r}")
    return number


def _scale(suffix: str, unit: str, original: str) -> float:
    if not suffix.endswith(unit):
        raise QuantityError(f"a quantity in {unit}, got {original!r}")
    prefix = suffix[: len(suffix) - len(unit)]
    if prefix not in PREFIXES:
        raise QuantityError(f"a quantity in {unit} with an SI prefix, got {original!r}")
    return PREFIXES[prefix]


def format_quantity(value: float, unit: str) -> str:
    """A short human-readable form (``2.5 ms``) for reports."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3),
                          ("µ", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15), ("a", 1e-18)):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def format_duration(seconds: float) -> str:
    """A simulated time for people: SI below a minute, else seconds with minutes, hours or days beside."""
    if not math.isfinite(seconds) or abs(seconds) < 60:
        return format_quantity(seconds, "s")
    for name, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if abs(seconds) >= size:
            return f"{seconds:.4g} s ({seconds / size:.3g} {name})"
    return f"{seconds:.4g} s"
