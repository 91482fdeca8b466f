"""Small synthetic tasks that need no files: the NIST 7x7 letters and n-bit parity.

They are the quick checks of the MGD literature (McCaughan et al., APL Machine Learning 2023): small
enough to simulate a whole chip in seconds, and deterministic in the seed so runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neurosim.data.record import (
    Dataset,
    bounded_float,
    check_classes,
    check_options,
    positive_int,
    subset_classes,
)
from neurosim.errors import DataError

# The four 7x7 letters, one-pixel strokes ('#' = 1, '.' = 0). They are drawn for this project after the
# paper's description (binary 7x7 images of N, I, S and T); the paper's exact bitmaps are not published
# as data. I and T share a centre stem on purpose: the task is easy but not trivially separable by one pixel.
#
#      N          I          S          T
#   #.....#    .#####.    .#####.    #######
#   ##....#    ...#...    #......    ...#...
#   #.#...#    ...#...    #......    ...#...
#   #..#..#    ...#...    .#####.    ...#...
#   #...#.#    ...#...    ......#    ...#...
#   #....##    ...#...    ......#    ...#...
#   #.....#    .#####.    .#####.    ...#...
_GLYPH_ART: dict[str, tuple[str, ...]] = {
    "N": ("#.....#", "##....#", "#.#...#", "#..#..#", "#...#.#", "#....##", "#.....#"),
    "I": (".#####.", "...#...", "...#...", "...#...", "...#...", "...#...", ".#####."),
    "S": (".#####.", "#......", "#......", ".#####.", "......#", "......#", ".#####."),
    "T": ("#######", "...#...", "...#...", "...#...", "...#...", "...#...", "...#..."),
}
NIST_LETTERS: tuple[str, ...] = tuple(_GLYPH_ART)


def _glyph(rows: tuple[str, ...]) -> np.ndarray:
    return (np.frombuffer("".join(rows).encode("ascii"), dtype=np.uint8) == ord("#")).reshape(7, 7)


# (4, 7, 7) float32 of 0/1, in the order of NIST_LETTERS (= the class labels).
NIST_GLYPHS: np.ndarray = np.stack([_glyph(rows) for rows in _GLYPH_ART.values()]).astype(np.float32)
NIST_GLYPHS.setflags(write=False)

NIST_DEFAULTS: dict[str, Any] = {"train_size": 2000, "test_size": 1000, "noise_std": 0.2, "flip_prob": 0.0}
PARITY_DEFAULTS: dict[str, Any] = {"bits": 4}
PARITY_MAX_BITS = 16  # 65,536 patterns: beyond that the "full truth table" stops being a small task

# Independent random streams per split, so that changing test_size never changes the training set.
_TRAIN_STREAM, _TEST_STREAM = 0, 1


def load_generated(name: str, *, seed: int, classes: Sequence[int] | None,
                   options: Mapping[str, Any] | None) -> Dataset:
    """Validate ``options`` for generated task ``name`` and build it."""
    if name == "nist7x7":
        opts = {**NIST_DEFAULTS, **check_options(name, options, NIST_DEFAULTS)}
        return nist7x7(seed=seed, classes=classes,
                       train_size=positive_int(name, "train_size", opts["train_size"]),
                       test_size=positive_int(name, "test_size", opts["test_size"]),
                       noise_std=bounded_float(name, "noise_std", opts["noise_std"]),
                       flip_prob=bounded_float(name, "flip_prob", opts["flip_prob"], high=1.0))
    if name == "parity":
        opts = {**PARITY_DEFAULTS, **check_options(name, options, PARITY_DEFAULTS)}
        bits = positive_int(name, "bits", opts["bits"], min_value=2, max_value=PARITY_MAX_BITS)
        return parity(bits=bits, classes=classes)
    raise DataError(f"{name!r} is not a generated data set; generated ones: nist7x7, parity")


def nist7x7(*, seed: int = 0, train_size: int = 2000, test_size: int = 1000, noise_std: float = 0.2,
            flip_prob: float = 0.0, classes: Sequence[int] | None = None) -> Dataset:
    """Noisy copies of the N, I, S, T glyphs, shape (n, 1, 7, 7), float32, values not clipped.

    Each pixel of the clean glyph is flipped with probability ``flip_prob``, then Gaussian noise of
    std ``noise_std`` is added. With ``classes`` only those letters are drawn (relabelled 0..k-1 in
    that order), so the sizes asked are the sizes delivered and the classes stay balanced.
    """
    keep = check_classes("nist7x7", classes, len(NIST_LETTERS)) if classes is not None \
        else tuple(range(len(NIST_LETTERS)))
    splits = []
    for stream, n in ((_TRAIN_STREAM, train_size), (_TEST_STREAM, test_size)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, stream]))
        splits.append(_noisy_glyphs(rng, n, keep, noise_std, flip_prob))
    (x_train, y_train), (x_test, y_test) = splits
    return Dataset(name="nist7x7", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   class_names=tuple(NIST_LETTERS[c] for c in keep), input_shape=(1, 7, 7))


def _noisy_glyphs(rng: np.random.Generator, n: int, keep: Sequence[int], noise_std: float,
                  flip_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` balanced samples of the kept letters, shuffled; draws are made even when a noise is 0,
    so that changing one noise level does not reshuffle the other."""
    labels = (np.arange(n, dtype=np.int64) % len(keep))[rng.permutation(n)]
    clean = NIST_GLYPHS[np.asarray(keep)[labels]]
    flips = rng.random(clean.shape) < flip_prob
    x = np.where(flips, np.float32(1.0) - clean, clean)
    x += np.float32(noise_std) * rng.standard_normal(clean.shape, dtype=np.float32)
    return np.ascontiguousarray(x.reshape(n, 1, 7, 7), dtype=np.float32), labels


def parity(*, bits: int = 4, classes: Sequence[int] | None = None) -> Dataset:
    """The full ``bits``-bit parity truth table: inputs in {-1, +1}, label 1 when an odd number are +1.

    Train and test are both the whole table (as separate copies): parity is a test of whether the
    network can represent and memorise a maximally non-linear function, not of generalisation, and
    leaving any pattern out of training makes its label unpredictable from the others by design.
    Rows are in binary counting order, most significant bit first; no seed is involved.
    """
    codes = np.arange(2 ** bits, dtype=np.int64)
    ones = (codes[:, None] >> np.arange(bits - 1, -1, -1, dtype=np.int64)) & 1
    x = (2 * ones - 1).astype(np.float32)
    y = ones.sum(axis=1) % 2
    ds = Dataset(name="parity", x_train=x, y_train=y, x_test=x.copy(), y_test=y.copy(),
                 class_names=("even", "odd"), input_shape=(bits,))
    return subset_classes(ds, classes) if classes is not None else ds
