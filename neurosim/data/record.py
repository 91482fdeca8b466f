"""The :class:`Dataset` record every loader returns, class subsets, and the checks of data-set options
shared by the file-backed and the generated sets (each problem a :class:`DataError` naming the set)."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from neurosim.errors import DataError


@dataclass(frozen=True, eq=False)  # eq=False: field-wise == on arrays is ambiguous; compare by identity
class Dataset:
    """A train/test pair of inputs and integer labels, with the names of the classes they index."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        # Checked once here so that the network builder and the engine can trust every Dataset.
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            where = f"{self.name} {split} set"
            if x.dtype != np.float32 or not x.flags.c_contiguous:
                raise DataError(f"{where}: expected C-contiguous float32 inputs, got {x.dtype}")
            if x.shape[1:] != tuple(self.input_shape):
                raise DataError(f"{where}: expected inputs of shape (n, {_dims(self.input_shape)}), "
                                f"got {x.shape}")
            if y.dtype != np.int64 or y.shape != x.shape[:1]:
                raise DataError(f"{where}: expected {x.shape[0]} int64 labels, got {y.dtype} {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise DataError(f"{where}: expected labels in 0..{len(self.class_names) - 1}, "
                                f"got {y.min()}..{y.max()}")

    @property
    def n_classes(self) -> int:
        """Number of classes, i.e. the width of the network's output layer."""
        return len(self.class_names)


def subset_classes(ds: Dataset, classes: Sequence[int]) -> Dataset:
    """Keep only samples of ``classes`` (original indices), relabelled 0..k-1 in the order given.

    Sample order within each split is preserved, so a fixed shuffle upstream stays fixed.
    """
    keep = check_classes(ds.name, classes, ds.n_classes)
    train = class_selection(ds.y_train, keep, ds.n_classes)
    test = class_selection(ds.y_test, keep, ds.n_classes)
    return replace(ds,
                   x_train=np.ascontiguousarray(ds.x_train[train[0]]), y_train=train[1],
                   x_test=np.ascontiguousarray(ds.x_test[test[0]]), y_test=test[1],
                   class_names=tuple(ds.class_names[c] for c in keep))


def class_selection(labels: np.ndarray, keep: Sequence[int], n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the samples whose label is in ``keep``, and their new int64 labels."""
    new_label = np.full(n_classes, -1, dtype=np.int64)
    new_label[list(keep)] = np.arange(len(keep), dtype=np.int64)
    mapped = new_label[labels]
    index = np.flatnonzero(mapped >= 0)
    return index, mapped[index]


def check_options(name: str, options: Mapping[str, Any] | None, allowed: Iterable[str]) -> dict[str, Any]:
    """A plain dict of ``options``; DataError for anything but a mapping with allowed keys."""
    allowed = tuple(allowed)
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise DataError(f"{name}: expected the data set options as a mapping, got {type(options).__name__}")
    for key in options:
        if key not in allowed:
            raise DataError(f"{name}: unknown option {key!r}; allowed options: "
                            f"{', '.join(allowed) if allowed else 'none'}")
    return dict(options)


def positive_int(name: str, key: str, value: Any, *, max_value: int | None = None,
                 min_value: int = 1) -> int:
    """``value`` as an int in ``min_value..max_value``; rejects bools, floats and strings."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataError(f"{name}: option {key} expected an integer, got {value!r}")
    value = int(value)
    if value < min_value or (max_value is not None and value > max_value):
        bounds = f">= {min_value}" if max_value is None else f"in {min_value}..{max_value}"
        raise DataError(f"{name}: option {key} expected an integer {bounds}, got {value}")
    return value


def bounded_float(name: str, key: str, value: Any, *, low: float = 0.0, high: float = math.inf) -> float:
    """``value`` as a finite float in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(f"{name}: option {key} expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        span = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise DataError(f"{name}: option {key} expected a finite number {span}, got {value!r}")
    return number


def check_classes(name: str, classes: Sequence[int], n_classes: int) -> tuple[int, ...]:
    """``classes`` as a tuple of distinct ints in 0..n_classes-1, at least two of them."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
        raise DataError(f"{name}: classes expected a list of class indices, got {classes!r}")
    keep: list[int] = []
    for c in classes:
        if isinstance(c, bool):
            raise DataError(f"{name}: classes expected integer class indices, got {c!r}")
        try:
            index = operator.index(c)
        except TypeError:
            raise DataError(f"{name}: classes expected integer class indices, got {c!r}") from None
        if not 0 <= index < n_classes:
            raise DataError(f"{name}: class {index} out of range; expected indices in 0..{n_classes - 1}")
        if index in keep:
            raise DataError(f"{name}: class {index} listed twice; expected distinct class indices")
        keep.append(index)
    if len(keep) < 2:
        raise DataError(f"{name}: expected at least 2 classes to classify, got {keep}")
    return tuple(keep)


def _dims(shape: Sequence[int]) -> str:
    return ", ".join(str(d) for d in shape)
