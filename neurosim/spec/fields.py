"""Declarative field types for the configuration dataclasses, and the one function that validates them.

A spec dataclass declares each field with a helper from this module (``quantity("Hz")``, ``integer(min=1)``,
``choice(...)``, ``nested(Cls)``...). :func:`build` walks the dataclass, so every file gets the same checks
and every error names the file, the key path and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from neurosim.errors import ConfigError
from neurosim.spec.units import QuantityError, parse_quantity

T = TypeVar("T")
Parser = Callable[[Any, str, str], Any]  # (value, file, key path) -> converted value
_REQUIRED = dataclasses.MISSING
MAX_INT = 2 ** 53  # whole numbers beyond this overflow compiled kernels and HDF5 attributes


def _field(parse: Parser, default: Any, key: str | None, doc: str, unit: str | None = None,
           is_mapping: bool = False, auto: bool = False, section: type | None = None,
           shorthand: str | None = None) -> Any:
    metadata = {"parse": parse, "key": key, "doc": doc, "unit": unit, "mapping": is_mapping, "auto": auto,
                "section": section, "shorthand": shorthand}
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple default")
    return dataclasses.field(default=default, metadata=metadata)


def yaml_key(field: dataclasses.Field) -> str:
    """The key a field has in YAML: its ``key`` metadata, else its name less a unit suffix
    (``write_energy_j`` is written ``write_energy: 1 pJ``)."""
    if field.metadata.get("key"):
        return field.metadata["key"]
    if field.metadata.get("unit"):
        return field.name.rsplit("_", 1)[0]
    return field.name


def quantity(unit: str, *, default: Any = _REQUIRED, key: str | None = None, min_value: float = 0.0,
             allow_min: bool = False, optional: bool = False, allow_auto: bool = False, doc: str = "") -> Any:
    """A physical quantity in base SI units; strictly above ``min_value`` unless ``allow_min``.

    ``allow_auto``: the string ``auto`` is accepted and stored as None (the builder then derives the value).
    """

    def parse(value: Any, file: str, path: str) -> float | None:
        if value is None and optional:
            return None
        if allow_auto and value == "auto":
            return None
        try:
            number = parse_quantity(value, unit)
        except QuantityError as exc:
            raise ConfigError(file, path, f"expected {exc}") from None
        if number < min_value or (number == min_value and not allow_min):
            bound = ">=" if allow_min else ">"
            raise ConfigError(file, path, f"expected a quantity {bound} {min_value:g} {unit}, got {value!r}")
        return number

    return _field(parse, default, key, doc, unit, auto=allow_auto)


def number(*, default: Any = _REQUIRED, key: str | None = None, min_value: float | None = None,
           max_value: float | None = None, allow_min: bool = True, optional: bool = False,
           doc: str = "") -> Any:
    """A plain real number (dimensionless) within optional bounds."""

    def parse(value: Any, file: str, path: str) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _is_finite(value):
            raise ConfigError(file, path, f"expected a number, got {value!r}")
        value = float(value)
        _check_bounds(value, min_value, max_value, allow_min, file, path)
        return value

    return _field(parse, default, key, doc)


def _is_finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the float range
        return False


def integer(*, default: Any = _REQUIRED, key: str | None = None, min_value: int | None = None,
            max_value: int | None = None, optional: bool = False, doc: str = "") -> Any:
    """A whole number; floats such as ``1e6`` are accepted only when they are integral."""

    def parse(value: Any, file: str, path: str) -> int | None:
        if value is None and optional:
            return None
        return parse_int(value, file, path, min_value, max_value)

    return _field(parse, default, key, doc)


def parse_int(value: Any, file: str, path: str, min_value: int | None = None,
              max_value: int | None = None) -> int:
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(file, path, f"expected a whole number, got {value!r}")
    if abs(value) > MAX_INT:
        raise ConfigError(file, path, f"expected a whole number of at most {MAX_INT:.3g}, got {value!r}")
    _check_bounds(value, min_value, max_value, True, file, path)
    return value


def _check_bounds(value: float, lo: float | None, hi: float | None, allow_lo: bool, file: str,
                  path: str) -> None:
    if lo is not None and (value < lo or (value == lo and not allow_lo)):
        raise ConfigError(file, path, f"expected a value {'>=' if allow_lo else '>'} {lo:g}, got {value!r}")
    if hi is not None and value > hi:
        raise ConfigError(file, path, f"expected a value <= {hi:g}, got {value!r}")


def text(*, default: Any = _REQUIRED, key: str | None = None, doc: str = "") -> Any:
    def parse(value: Any, file: str, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise ConfigError(file, path, f"expected a non-empty string, got {value!r}")
        return value

    return _field(parse, default, key, doc)


def flag(*, default: Any = _REQUIRED, key: str | None = None, doc: str = "") -> Any:
    def parse(value: Any, file: str, path: str) -> bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(file, path, f"expected true or false, got {value!r}")
        return value

    return _field(parse, default, key, doc)


def choice(options: Sequence[str], *, default: Any = _REQUIRED, key: str | None = None, doc: str = "") -> Any:
    def parse(value: Any, file: str, path: str) -> str:
        if value not in options:
            raise ConfigError(file, path, f"expected one of {', '.join(options)}, got {value!r}")
        return value

    return _field(parse, default, key, doc)


def int_list(*, default: Any = _REQUIRED, key: str | None = None, min_value: int | None = None,
             optional: bool = False, min_length: int = 0, doc: str = "") -> Any:
    """A list of whole numbers, stored as a tuple."""

    def parse(value: Any, file: str, path: str) -> tuple[int, ...] | None:
        if value is None and optional:
            return None
        if not isinstance(value, (list, tuple)) or len(value) < min_length:
            raise ConfigError(file, path, f"expected a list of at least {min_length} whole numbers, got {value!r}")
        return tuple(parse_int(v, file, f"{path}[{i}]", min_value) for i, v in enumerate(value))

    return _field(parse, default, key, doc)


def mapping(*, default: Any = (), key: str | None = None, doc: str = "") -> Any:
    """A free-form mapping (validated by whoever consumes it), stored as a sorted tuple of pairs."""

    def parse(value: Any, file: str, path: str) -> tuple[tuple[str, Any], ...]:
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            raise ConfigError(file, path, f"expected a mapping of keys to values, got {value!r}")
        return tuple(sorted((str(k), v) for k, v in value.items()))

    return _field(parse, default, key, doc, is_mapping=True)


def nested(cls: type, *, optional: bool = False, key: str | None = None, shorthand: str | None = None,
           doc: str = "") -> Any:
    """A sub-section; absent means all of its defaults (or None when ``optional``). With ``shorthand``, a
    plain value stands for the section with only that key set (``loss: mse`` = ``loss: {kind: mse}``)."""

    def parse(value: Any, file: str, path: str) -> Any:
        if value is None and optional:
            return None
        if shorthand is not None and not isinstance(value, Mapping) and value is not None:
            value = {shorthand: value}
        return build(cls, {} if value is None else value, file, path)

    default = None if optional else _REQUIRED
    f = _field(parse, default, key, doc, section=cls, shorthand=shorthand)
    if not optional:
        f.default = dataclasses.MISSING
        f.default_factory = cls  # type: ignore[assignment]
    return f


def shorthand_of(cls: type, parts: Sequence[str]) -> str | None:
    """The key a plain value stands for at the dotted path ``parts`` below ``cls`` (``loss`` in a workload:
    ``kind``), or None where the path is not a section with a shorthand."""
    for depth, part in enumerate(parts):
        fields = {yaml_key(f): f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
        f = fields.get(part)
        if f is None or f.metadata.get("section") is None:
            return None
        if depth == len(parts) - 1:
            return f.metadata.get("shorthand")
        cls = f.metadata["section"]
    return None


def build(cls: type[T], data: Any, file: str, path: str = "") -> T:
    """Validate ``data`` (parsed YAML) against the dataclass ``cls`` and return a frozen instance."""
    if not isinstance(data, Mapping):
        raise ConfigError(file, path or None, f"expected a mapping of keys, got {type(data).__name__}")
    fields = dataclasses.fields(cls)
    known = {yaml_key(f): f for f in fields}
    for key in data:
        if key not in known:
            where = f"{path}.{key}" if path else str(key)
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(file, where, f"unknown key; {hint}expected one of: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for key, f in known.items():
        where = f"{path}.{key}" if path else key
        if key in data:
            values[f.name] = f.metadata["parse"](data[key], file, where)
        elif f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            values[f.name] = f.metadata["parse"](None, file, where)
        else:
            raise ConfigError(file, where, "missing required key")
    instance = cls(**values)
    check = getattr(instance, "check", None)
    if check is not None:
        check(file, path)
    return instance


def to_plain(obj: Any) -> Any:
    """A spec dataclass back to plain YAML-able data, with its YAML keys (for run files and reports)."""
    if hasattr(obj, "as_yaml"):  # a value written in a form of its own (a layer entry)
        return obj.as_yaml()
    if dataclasses.is_dataclass(obj):
        def plain(f: dataclasses.Field) -> Any:
            value = getattr(obj, f.name)
            if f.metadata.get("mapping"):
                return {k: to_plain(v) for k, v in value}
            if value is None and f.metadata.get("auto"):
                return "auto"
            return to_plain(value)

        return {yaml_key(f): plain(f) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        if obj and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in obj):
            return {k: to_plain(v) for k, v in obj}
        return [to_plain(x) for x in obj]
    return obj
