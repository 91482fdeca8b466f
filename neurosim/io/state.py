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
