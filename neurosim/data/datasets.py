"""Data sets as arrays ready for training: :func:`load_dataset` over the file-backed Fashion-MNIST / MNIST
loaders and the generated tasks (the :class:`Dataset` record and its checks are in ``record.py``).

Every problem with names, options or files is a :class:`DataError` that names the data set or file
and what was expected, so the command line can report it in one line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.data.generated import NIST_DEFAULTS, PARITY_DEFAULTS, PARITY_MAX_BITS, load_generated
from neurosim.data.idx import read_idx
from neurosim.data.record import Dataset, check_classes, check_options, class_selection, positive_int
from neurosim.errors import DataError

DATASETS: tuple[str, ...] = ("fashion-mnist", "mnist", "nist7x7", "parity")
IDX_DATASETS: tuple[str, ...] = ("fashion-mnist", "mnist")
DATA_ENV = "NEUROSIM_DATA"

# The four standard file names; each may also carry a ".gz" suffix.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES: tuple[str, ...] = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "mnist": tuple(str(digit) for digit in range(10)),
}
IMAGE_SIZE = (28, 28)
IDX_OPTIONS: tuple[str, ...] = ("train_size", "test_size")


def load_dataset(name: str, *, data_dir: str | os.PathLike[str] | None = None,
                 classes: Sequence[int] | None = None, seed: int = 0,
                 options: Mapping[str, Any] | None = None) -> Dataset:
    """Load or generate data set ``name``.

    ``classes`` keeps those original class indices, relabelled 0..k-1 in the order given;
    ``seed`` drives the generated tasks; ``options`` are per data set (see :data:`DATASETS`
    and the loaders); ``data_dir`` only matters for file-backed sets (see :func:`find_dataset_dir`).
    """
    check_name(name)
    seed = _check_seed(name, seed)
    if name in IDX_DATASETS:
        return _load_idx_dataset(name, data_dir, classes, options)
    return load_generated(name, seed=seed, classes=classes, options=options)


def default_data_root() -> Path:
    """The per-user cache that ``neurosim data fetch`` fills and the loaders search last."""
    return Path.home() / ".cache" / "neurosim"


def find_dataset_dir(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the four IDX files of ``name``.

    Searched in order: ``data_dir``, ``$NEUROSIM_DATA``, ``~/.cache/neurosim``; in each root first
    ``<root>/<name>/``, then the root itself (unless the root is named after another data set, so
    that an MNIST folder is never mistaken for Fashion-MNIST).
    """
    check_name(name)
    if name not in IDX_DATASETS:
        raise DataError(f"{name} is generated on the fly and has no data folder; "
                        f"file-backed data sets: {', '.join(IDX_DATASETS)}")
    looked: list[str] = []
    for root in _search_roots(data_dir):
        if not root.is_dir():
            looked.append(f"{root} (no such folder)")
            continue
        candidates = [root / name]
        if root.name not in DATASETS or root.name == name:
            candidates.append(root)
        for folder in candidates:
            missing = [base for base in IDX_FILES if _idx_file(folder, base) is None]
            if not missing:
                return folder
            looked.append(f"{folder} ({_why_not(folder, missing)})")
    raise DataError(
        f"{name} data not found; looked in: {'; '.join(looked)}. "
        f"Get it with `neurosim data fetch {name}`, or copy the files "
        f"{', '.join(base + '[.gz]' for base in IDX_FILES)} into DIR/{name}/ "
        f"and pass --data-dir DIR or set {DATA_ENV}=DIR")


# ---- validation helpers, shared with generated.py -------------------------------------------------

def check_name(name: str) -> None:
    """Raise DataError unless ``name`` is one of :data:`DATASETS`."""
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; expected one of: {', '.join(DATASETS)}")


# ---- Fashion-MNIST / MNIST ------------------------------------------------------------------------

def _load_idx_dataset(name: str, data_dir: str | os.PathLike[str] | None,
                      classes: Sequence[int] | None, options: Mapping[str, Any] | None) -> Dataset:
    """Read the four IDX files, keep ``classes``, truncate to the sizes asked, scale to [0, 1]."""
    opts = check_options(name, options, IDX_OPTIONS)
    sizes = {key: positive_int(name, key, opts[key]) for key in IDX_OPTIONS if opts.get(key) is not None}
    n_all = len(CLASS_NAMES[name])
    keep = check_classes(name, classes, n_all) if classes is not None else tuple(range(n_all))
    folder = find_dataset_dir(name, data_dir)
    splits = []
    for split, images, labels, key in (("train", TRAIN_IMAGES, TRAIN_LABELS, "train_size"),
                                       ("test", TEST_IMAGES, TEST_LABELS, "test_size")):
        raw_x, raw_y = _read_split(folder, images, labels, n_all)
        index, y = class_selection(raw_y, keep, n_all)
        limit = sizes.get(key)
        if limit is not None:
            if limit > len(y):
                raise DataError(f"{name}: option {key} = {limit} exceeds the {len(y)} {split} samples "
                                f"available in {folder} for classes {list(keep)}")
            index, y = index[:limit], y[:limit]
        kept = raw_x if len(index) == len(raw_x) else raw_x[index]  # filter as uint8: 4x less to touch
        x = kept.astype(np.float32)
        x /= np.float32(255.0)
        splits.append((x.reshape(len(y), 1, *IMAGE_SIZE), y))
    (x_train, y_train), (x_test, y_test) = splits
    return Dataset(name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   class_names=tuple(CLASS_NAMES[name][c] for c in keep),
                   input_shape=(1, *IMAGE_SIZE))


def _read_split(folder: Path, images_base: str, labels_base: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 images (n, 28, 28) and labels (n,) of one split, checked against each other."""
    images_path = _idx_file(folder, images_base)
    labels_path = _idx_file(folder, labels_base)
    if images_path is None or labels_path is None:  # deleted since find_dataset_dir looked
        raise DataError(f"{folder}: missing {images_base}[.gz] or {labels_base}[.gz]")
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SIZE:
        raise DataError(f"{images_path}: expected unsigned-byte images of shape (n, 28, 28), "
                        f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{labels_path}: expected a 1-D array of unsigned-byte labels, "
                        f"got {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: expected {len(images)} labels to match {images_path.name}, "
                        f"got {len(labels)}")
    if labels.size and labels.max() >= n_classes:
        raise DataError(f"{labels_path}: expected labels in 0..{n_classes - 1}, got {int(labels.max())}")
    return images, labels


def _idx_file(folder: Path, base: str) -> Path | None:
    """``folder/base`` or ``folder/base.gz``, preferring the uncompressed one (faster to read)."""
    for candidate in (folder / base, folder / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _search_roots(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The roots to search, in order, without repeats."""
    roots: list[Path] = []
    env = os.environ.get(DATA_ENV)
    for root in (data_dir, env or None, default_data_root()):
        if root is None:
            continue
        path = Path(root).expanduser()
        if path not in roots:
            roots.append(path)
    return roots


def _why_not(folder: Path, missing: Sequence[str]) -> str:
    if not folder.is_dir():
        return "no such folder"
    if len(missing) == len(IDX_FILES):
        return "none of the four files"
    return "missing " + ", ".join(missing)


def _check_seed(name: str, seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"{name}: expected the seed to be a non-negative integer, got {seed!r}")
    return int(seed)


def task_shape(name: str, classes: Sequence[int] | None = None,
               options: Mapping[str, Any] | None = None) -> tuple[tuple[int, ...], int]:
    """(input shape, number of classes) of a data set without reading it: what ``describe`` and
    ``estimate`` need to build the network."""

    check_name(name)
    if name == "parity":
        opts = {**PARITY_DEFAULTS, **check_options(name, options, PARITY_DEFAULTS)}
        bits = positive_int(name, "bits", opts["bits"], min_value=2, max_value=PARITY_MAX_BITS)
        shape, n_classes = (bits,), 2
    elif name == "nist7x7":
        check_options(name, options, NIST_DEFAULTS)
        shape, n_classes = (1, 7, 7), 4
    else:
        check_options(name, options, IDX_OPTIONS)
        shape, n_classes = (1, *IMAGE_SIZE), 10
    if classes is not None:
        n_classes = len(check_classes(name, classes, n_classes))
    return shape, n_classes
