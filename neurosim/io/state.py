"""Nested simulation state <-> HDF5 groups, for checkpoints.

A state is a dict whose values are numpy arrays, plain scalars (int, float, bool, str, None), lists of
states or arrays, or nested dicts. Arrays become datasets, scalars attributes (None as a marker), lists
groups with numbered members, so a resumed run gets back exactly the bits it saved.
"""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np

_NONE = "__none__"
_LIST = "__list__"
_JSON = "__json__:"


def save_state(group: h5py.Group, state: dict[str, Any]) -> None:
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            group.create_dataset(key, data=value)
        elif isinstance(value, dict):
            save_state(group.create_group(key), value)
        elif isinstance(value, (list, tuple)):
            sub = group.create_group(key)
            sub.attrs[_LIST] = len(value)
            save_state(sub, {str(i): v for i, v in enumerate(value)})
        elif value is None:
            group.attrs[key] = _NONE
        elif isinstance(value, (bool, np.bool_)):
            group.attrs[key] = np.bool_(value)
        elif isinstance(value, (int, np.integer)):
            group.attrs[key] = np.int64(value)
        elif isinstance(value, (float, np.floating)):
            group.attrs[key] = np.float64(value)
        elif isinstance(value, str):
            group.attrs[key] = value
        else:
            raise TypeError(f"cannot checkpoint {key!r} of type {type(value).__name__}")


def load_state(group: h5py.Group) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for key, value in group.attrs.items():
        if key == _LIST:
            continue
        if isinstance(value, str) and value == _NONE:
            state[key] = None
        elif isinstance(value, np.bool_):
            state[key] = bool(value)
        elif isinstance(value, np.integer):
            state[key] = int(value)
        elif isinstance(value, np.floating):
            state[key] = float(value)
        else:
            state[key] = value
    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            state[key] = item[()]
        elif _LIST in item.attrs:
            members = load_state(item)
            state[key] = [members[str(i)] for i in range(int(item.attrs[_LIST]))]
        else:
            state[key] = load_state(item)
    return state


def rng_state(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, text: str) -> None:
    rng.bit_generator.state = json.loads(text)


def check_state(saved: Any, fresh: Any, where: str = "checkpoint") -> None:
    """Check a loaded state against the state a freshly built simulation of the same configuration has:
    the same arrays with the same shapes and kinds of number, lists of the same lengths, non-negative
    counters still non-negative, sample orders still indices. A hand-edited or damaged checkpoint then
    fails here, naming the entry, instead of resuming into an inconsistent run. Entries only one side has
    are left to ``restore`` (older checkpoints lack some)."""
    if isinstance(fresh, dict):
        if not isinstance(saved, dict):
            raise ValueError(f"{where}: expected a group")
        for key, value in fresh.items():
            if key in saved:
                check_state(saved[key], value, f"{where}/{key}")
    elif isinstance(fresh, list):
        if not isinstance(saved, list) or len(saved) != len(fresh):
            raise ValueError(f"{where}: expected a list of {len(fresh)} entries")
        for i, (s, f) in enumerate(zip(saved, fresh)):
            check_state(s, f, f"{where}/{i}")
    elif isinstance(fresh, np.ndarray):
        if not isinstance(saved, np.ndarray):
            raise ValueError(f"{where}: expected an array of shape {fresh.shape}")
        legacy_shorter = where.endswith("/fs") and saved.ndim == 1 and saved.size <= fresh.size
        if (saved.shape != fresh.shape and not legacy_shorter) or saved.dtype.kind != fresh.dtype.kind:
            raise ValueError(f"{where}: expected an array of shape {fresh.shape} ({fresh.dtype}), "
                             f"got {saved.shape} ({saved.dtype})")
        if fresh.dtype.kind in "iu" and saved.size and (fresh.size == 0 or fresh.min() >= 0) and saved.min() < 0:
            raise ValueError(f"{where}: expected counts >= 0, got {saved.min()}")
        if where.endswith("/order") and saved.size and (saved.min() < 0 or saved.max() >= saved.size):
            raise ValueError(f"{where}: expected sample indices from 0 to {saved.size - 1}")
    elif isinstance(fresh, bool):
        if not isinstance(saved, (bool, np.bool_)):
            raise ValueError(f"{where}: expected true or false, got {saved!r}")
    elif isinstance(fresh, (int, np.integer)):
        if isinstance(saved, (bool, np.bool_)) or not isinstance(saved, (int, np.integer)):
            raise ValueError(f"{where}: expected a whole number, got {saved!r}")
        if fresh >= 0 and saved < 0:
            raise ValueError(f"{where}: expected a whole number >= 0, got {saved}")
    elif isinstance(fresh, (float, np.floating)):
        if not isinstance(saved, (int, float, np.integer, np.floating)) or isinstance(saved, (bool, np.bool_)):
            raise ValueError(f"{where}: expected a number, got {saved!r}")
    elif isinstance(fresh, str):
        if not isinstance(saved, str):
            raise ValueError(f"{where}: expected text, got {saved!r}")
