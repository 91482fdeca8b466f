"""Tests of neurosim.data: IDX reading, the file-backed and generated data sets, class subsets, fetch.

Nothing here touches the network: downloads are pointed at local ``file://`` folders. The real
Fashion-MNIST is read from ``$NEUROSIM_TEST_DATA`` or ``<repo>/../shared/data`` when present.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from neurosim.data import (
    DATASETS,
    Dataset,
    fetch_dataset,
    find_dataset_dir,
    load_dataset,
    read_idx,
    subset_classes,
)
from neurosim.data import fetch as fetch_module
from neurosim.data.datasets import IDX_FILES
from neurosim.data.generated import NIST_GLYPHS
from neurosim.errors import DataError, NeurosimError

TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
              np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes for ``array``, written independently of the reader under test."""
    array = np.asarray(array)
    header = bytes([0, 0, TYPE_CODES[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture(autouse=True)
def isolated_search(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test may find a developer's real cache: HOME is empty and NEUROSIM_DATA unset."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    return home


def make_idx_dataset(folder: Path, *, n_train: int = 40, n_test: int = 20, compress: bool = True,
                     seed: int = 0) -> tuple[np.ndarray, ...]:
    """A tiny data set in the MNIST layout: labels cycle 0..9, images encode (label, index)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = []
    for images_base, labels_base, n in ((IDX_FILES[0], IDX_FILES[1], n_train),
                                        (IDX_FILES[2], IDX_FILES[3], n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels * 25  # recognisable after scaling
        suffix = ".gz" if compress else ""
        write_idx(folder / f"{images_base}{suffix}", images, compress=compress)
        write_idx(folder / f"{labels_base}{suffix}", labels, compress=compress)
        arrays += [images, labels]
    return tuple(arrays)


# ---- IDX reader ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_every_type(tmp_path: Path, dtype: type, compress: bool) -> None:
    rng = np.random.default_rng(1)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / "x.idx", array, compress=compress)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == (3, 4, 5) and got.flags.c_contiguous and got.flags.writeable
    np.testing.assert_array_equal(got, array)


def test_read_idx_detects_gzip_by_magic_not_name(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_without_suffix = write_idx(tmp_path / "labels", array, compress=True)
    raw_with_suffix = write_idx(tmp_path / "labels.gz", array, compress=False)
    np.testing.assert_array_equal(read_idx(gz_without_suffix), array)
    np.testing.assert_array_equal(read_idx(str(raw_with_suffix)), array)


def test_read_idx_accepts_empty_dimension(tmp_path: Path) -> None:
    got = read_idx(write_idx(tmp_path / "empty", np.zeros((0, 28, 28), np.uint8)))
    assert got.shape == (0, 28, 28)


@pytest.mark.parametrize("payload, expected", [
    (b"", "4-byte header"),
    (b"\x00\x00", "4-byte header"),
    (b"\x12\x34\x08\x01" + b"\x00" * 8, "magic"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
])
def test_read_idx_rejects_bad_headers(tmp_path: Path, payload: bytes, expected: str) -> None:
    path = tmp_path / "bad-idx"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=expected) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_rejects_truncated_and_overlong_data(tmp_path: Path, compress: bool) -> None:
    good = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    for name, data, problem, actual in (("short", good[:-5], "truncated", 7835),
                                        ("long", good + b"\x00" * 3, "too long", 7843)):
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if compress else data)
        with pytest.raises(DataError) as info:
            read_idx(path)
        message = str(info.value)
        assert str(path) in message and problem in message
        assert "7840" in message and str(actual) in message  # expected vs actual byte counts


def test_read_idx_wrong_count_in_header(tmp_path: Path) -> None:
    data = bytearray(idx_bytes(np.zeros((10, 2), np.float32)))
    data[4:8] = struct.pack(">I", 11)  # header claims 11 rows, payload has 10
    path = tmp_path / "wrong-count"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="needs 88 data bytes, the file has 80"):
        read_idx(path)


def test_read_idx_damaged_gzip_and_missing_file(tmp_path: Path) -> None:
    compressed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(compressed[: len(compressed) // 2])
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    for path in (cut, garbage):
        with pytest.raises(DataError, match="gzip") as info:
            read_idx(path)
        assert str(path) in str(info.value)
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "absent")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path)  # a directory


# ---- Fashion-MNIST / MNIST from files ------------------------------------------------------------

def test_load_small_idx_dataset(tmp_path: Path) -> None:
    x_tr, y_tr, x_te, y_te = make_idx_dataset(tmp_path / "fashion-mnist")
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert isinstance(ds, Dataset) and ds.name == "fashion-mnist"
    assert ds.x_train.shape == (40, 1, 28, 28) and ds.x_test.shape == (20, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.x_train.flags.c_contiguous
    assert ds.y_train.dtype == np.int64 and ds.input_shape == (1, 28, 28)
    np.testing.assert_allclose(ds.x_train[:, 0], x_tr / 255.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(ds.y_test, y_te)
    assert ds.n_classes == 10 and ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_load_mnist_raw_files_and_class_names(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path / "mnist", compress=False)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.class_names == tuple("0123456789") and ds.x_train.shape == (40, 1, 28, 28)


def test_dataset_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              isolated_search: Path) -> None:
    cache = isolated_search / ".cache" / "neurosim" / "fashion-mnist"
    make_idx_dataset(cache, n_train=10)
    env_root = tmp_path / "env"
    make_idx_dataset(env_root / "fashion-mnist", n_train=20)
    direct = tmp_path / "direct"  # a root that holds the four files itself
    make_idx_dataset(direct, n_train=30)

    assert find_dataset_dir("fashion-mnist") == cache
    monkeypatch.setenv("NEUROSIM_DATA", str(env_root))
    assert find_dataset_dir("fashion-mnist") == env_root / "fashion-mnist"
    assert find_dataset_dir("fashion-mnist", direct) == direct
    assert len(load_dataset("fashion-mnist", data_dir=direct).y_train) == 30
    assert len(load_dataset("fashion-mnist").y_train) == 20
    # a data_dir without the files falls through to the next roots
    assert find_dataset_dir("fashion-mnist", tmp_path / "nothing") == env_root / "fashion-mnist"


def test_folder_named_after_other_dataset_is_not_taken(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path / "mnist")
    with pytest.raises(DataError, match="not found"):
        find_dataset_dir("fashion-mnist", tmp_path / "mnist")
    assert find_dataset_dir("mnist", tmp_path / "mnist") == tmp_path / "mnist"


def test_missing_data_names_every_place_and_the_remedy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       isolated_search: Path) -> None:
    partial = tmp_path / "given" / "fashion-mnist"
    partial.mkdir(parents=True)
    write_idx(partial / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28), np.uint8), compress=True)
    monkeypatch.setenv("NEUROSIM_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path / "given")
    message = str(info.value)
    for place in (partial, tmp_path / "env", isolated_search / ".cache" / "neurosim"):
        assert str(place) in message
    assert f"{tmp_path / 'given'} (none of the four files)" in message  # the root itself was tried too
    assert "missing train-labels-idx1-ubyte" in message
    assert "neurosim data fetch fashion-mnist" in message
    assert "--data-dir" in message and "NEUROSIM_DATA" in message
    assert "\n" not in message


@pytest.mark.parametrize("breakage, expected", [
    ("count", "expected 40 labels"),
    ("label", "labels in 0..9"),
    ("shape", r"shape \(n, 28, 28\)"),
    ("dtype", "unsigned-byte labels"),
])
def test_inconsistent_idx_files(tmp_path: Path, breakage: str, expected: str) -> None:
    folder = tmp_path / "fashion-mnist"
    make_idx_dataset(folder)
    labels = folder / "train-labels-idx1-ubyte.gz"
    images = folder / "train-images-idx3-ubyte.gz"
    if breakage == "count":
        write_idx(labels, np.zeros(39, np.uint8), compress=True)
    elif breakage == "label":
        write_idx(labels, np.full(40, 10, np.uint8), compress=True)
    elif breakage == "shape":
        write_idx(images, np.zeros((40, 27, 28), np.uint8), compress=True)
    else:
        write_idx(labels, np.zeros(40, np.int32), compress=True)
    with pytest.raises(DataError, match=expected):
        load_dataset("fashion-mnist", data_dir=tmp_path)


def test_classes_and_sizes_on_files(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path / "mnist")
    ds = load_dataset("mnist", data_dir=tmp_path, classes=[7, 2], options={"train_size": 5, "test_size": 3})
    assert ds.class_names == ("7", "2") and ds.n_classes == 2
    assert len(ds.y_train) == 5 and len(ds.y_test) == 3
    # original label is encoded in pixel (0, 0); label 0 <-> class 7, label 1 <-> class 2
    original = np.rint(ds.x_train[:, 0, 0, 0] * 255 / 25).astype(int)
    np.testing.assert_array_equal(np.where(ds.y_train == 0, 7, 2), original)
    with pytest.raises(DataError, match="train_size = 9 exceeds the 8 train samples"):
        load_dataset("mnist", data_dir=tmp_path, classes=[7, 2], options={"train_size": 9})


@pytest.mark.parametrize("options, expected", [
    ({"train_size": 0}, "train_size expected an integer >= 1"),
    ({"test_size": -3}, "test_size expected an integer >= 1"),
    ({"train_size": 2.5}, "expected an integer"),
    ({"train_size": "10"}, "expected an integer"),
    ({"train_size": True}, "expected an integer"),
    ({"batch": 3}, r"unknown option 'batch'; allowed options: train_size, test_size"),
    (["train_size"], "mapping"),
])
def test_bad_options_for_file_datasets(tmp_path: Path, options: object, expected: str) -> None:
    make_idx_dataset(tmp_path / "mnist")
    with pytest.raises(DataError, match=expected):
        load_dataset("mnist", data_dir=tmp_path, options=options)  # type: ignore[arg-type]


# ---- names, classes, subsets ---------------------------------------------------------------------

def test_unknown_dataset_lists_known_names() -> None:
    assert DATASETS == ("fashion-mnist", "mnist", "nist7x7", "parity")
    with pytest.raises(DataError) as info:
        load_dataset("cifar10")
    for name in DATASETS:
        assert name in str(info.value)
    assert isinstance(info.value, NeurosimError)
    with pytest.raises(DataError, match="generated"):
        find_dataset_dir("parity")


@pytest.mark.parametrize("classes, expected", [
    ([1, 1], "listed twice"),
    ([0, 4], "out of range"),
    ([-1, 2], "out of range"),
    ([2], "at least 2 classes"),
    ([], "at least 2 classes"),
    ([0.5, 1], "integer class indices"),
    ("01", "list of class indices"),
])
def test_bad_classes(classes: object, expected: str) -> None:
    with pytest.raises(DataError, match=expected):
        load_dataset("nist7x7", classes=classes, options={"train_size": 8, "test_size": 8})  # type: ignore[arg-type]


def test_subset_classes_remaps_in_given_order() -> None:
    ds = load_dataset("nist7x7", options={"train_size": 40, "test_size": 20, "noise_std": 0.0})
    sub = subset_classes(ds, [3, 0])
    assert sub.class_names == ("T", "N") and sub.n_classes == 2 and sub.name == "nist7x7"
    assert len(sub.y_train) == 20 and len(sub.y_test) == 10
    np.testing.assert_array_equal(sub.x_train[sub.y_train == 0, 0], np.broadcast_to(NIST_GLYPHS[3], (10, 7, 7)))
    np.testing.assert_array_equal(sub.x_train[sub.y_train == 1, 0], np.broadcast_to(NIST_GLYPHS[0], (10, 7, 7)))
    # order of the kept samples is preserved
    kept = np.flatnonzero(np.isin(ds.y_train, [3, 0]))
    np.testing.assert_array_equal(sub.x_train, ds.x_train[kept])
    assert sub.x_train.flags.c_contiguous and sub.y_train.dtype == np.int64
    with pytest.raises(DataError, match="out of range"):
        subset_classes(sub, [0, 2])


def test_dataset_checks_its_arrays() -> None:
    x = np.zeros((4, 3), np.float32)
    y = np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match="float32"):
        Dataset("t", x.astype(np.float64), y, x, y, ("a", "b"), (3,))
    with pytest.raises(DataError, match="labels in 0..1"):
        Dataset("t", x, y + 1, x, y, ("a", "b"), (3,))
    with pytest.raises(DataError, match="shape"):
        Dataset("t", x, y, x, y, ("a", "b"), (4,))


# ---- generated tasks -----------------------------------------------------------------------------

def test_nist_glyphs_are_distinct_binary_letters() -> None:
    assert NIST_GLYPHS.shape == (4, 7, 7) and set(np.unique(NIST_GLYPHS)) == {0.0, 1.0}
    flat = NIST_GLYPHS.reshape(4, -1)
    distances = (flat[:, None] != flat[None]).sum(-1)
    assert (distances + np.eye(4, dtype=int) * 99).min() >= 6  # any two letters differ in >= 6 pixels
    # one-pixel strokes: no 2x2 block is fully inked
    blocks = NIST_GLYPHS[:, :-1, :-1] + NIST_GLYPHS[:, 1:, :-1] + NIST_GLYPHS[:, :-1, 1:] + NIST_GLYPHS[:, 1:, 1:]
    assert blocks.max() < 4


def test_nist7x7_defaults() -> None:
    ds = load_dataset("nist7x7")
    assert ds.class_names == ("N", "I", "S", "T") and ds.input_shape == (1, 7, 7)
    assert ds.x_train.shape == (2000, 1, 7, 7) and ds.x_test.shape == (1000, 1, 7, 7)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(ds.y_train), [500] * 4)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [250] * 4)
    noise = ds.x_train[:, 0] - NIST_GLYPHS[ds.y_train]
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.2) < 0.005
    assert ds.x_train.min() < 0 and ds.x_train.max() > 1  # not clipped
    assert not np.array_equal(ds.y_train, np.arange(2000) % 4)  # shuffled, not in cycling order


def test_nist7x7_is_deterministic_with_independent_streams() -> None:
    opts = {"train_size": 100, "test_size": 60}
    a = load_dataset("nist7x7", seed=3, options=opts)
    b = load_dataset("nist7x7", seed=3, options=opts)
    c = load_dataset("nist7x7", seed=4, options=opts)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert not np.array_equal(a.x_train[:60], a.x_test)
    # the test set has its own stream: changing test_size leaves the training set alone
    d = load_dataset("nist7x7", seed=3, options={"train_size": 100, "test_size": 8})
    np.testing.assert_array_equal(a.x_train, d.x_train)
    # train stream is SeedSequence([seed, 0])
    rng = np.random.default_rng(np.random.SeedSequence([3, 0]))
    np.testing.assert_array_equal(a.y_train, (np.arange(100) % 4)[rng.permutation(100)])


def test_nist7x7_noise_options() -> None:
    clean = load_dataset("nist7x7", options={"train_size": 8, "test_size": 4, "noise_std": 0.0})
    np.testing.assert_array_equal(clean.x_train[:, 0], NIST_GLYPHS[clean.y_train])
    inverted = load_dataset("nist7x7", options={"train_size": 8, "test_size": 4, "noise_std": 0,
                                                "flip_prob": 1.0})
    np.testing.assert_array_equal(inverted.x_train[:, 0], 1 - NIST_GLYPHS[inverted.y_train])
    flipped = load_dataset("nist7x7", options={"train_size": 400, "test_size": 4, "noise_std": 0,
                                               "flip_prob": 0.1})
    rate = (flipped.x_train[:, 0] != NIST_GLYPHS[flipped.y_train]).mean()
    assert 0.08 < rate < 0.12


def test_nist7x7_classes_keep_sizes_and_balance() -> None:
    ds = load_dataset("nist7x7", classes=[2, 1], options={"train_size": 10, "test_size": 6, "noise_std": 0})
    assert ds.class_names == ("S", "I") and len(ds.y_train) == 10 and len(ds.y_test) == 6
    np.testing.assert_array_equal(np.bincount(ds.y_train), [5, 5])
    np.testing.assert_array_equal(ds.x_train[:, 0], NIST_GLYPHS[np.array([2, 1])[ds.y_train]])


@pytest.mark.parametrize("options, expected", [
    ({"noise_std": -0.1}, "noise_std expected a finite number >= 0"),
    ({"noise_std": float("nan")}, "noise_std"),
    ({"flip_prob": 1.5}, r"flip_prob expected a finite number in \[0, 1\]"),
    ({"flip_prob": "0.1"}, "flip_prob expected a number"),
    ({"train_size": 0}, "train_size"),
    ({"bits": 4}, "unknown option 'bits'; allowed options: train_size, test_size, noise_std, flip_prob"),
])
def test_nist7x7_bad_options(options: dict, expected: str) -> None:
    with pytest.raises(DataError, match=expected):
        load_dataset("nist7x7", options=options)


def test_bad_seed() -> None:
    for seed in (-1, 1.5, "0", True):
        with pytest.raises(DataError, match="seed"):
            load_dataset("nist7x7", seed=seed, options={"train_size": 4, "test_size": 4})  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", [2, 4, 7])
def test_parity_truth_table(bits: int) -> None:
    ds = load_dataset("parity", options={"bits": bits})
    n = 2 ** bits
    assert ds.x_train.shape == (n, bits) and ds.input_shape == (bits,) and ds.x_train.dtype == np.float32
    assert set(np.unique(ds.x_train)) == {-1.0, 1.0}
    assert len({row.tobytes() for row in ds.x_train}) == n  # every pattern exactly once
    np.testing.assert_array_equal(ds.y_train, (ds.x_train > 0).sum(axis=1) % 2)
    np.testing.assert_array_equal(ds.x_test, ds.x_train)
    np.testing.assert_array_equal(ds.y_test, ds.y_train)
    assert ds.x_test is not ds.x_train
    assert ds.class_names == ("even", "odd") and ds.y_train.dtype == np.int64


def test_parity_options_and_classes() -> None:
    assert load_dataset("parity").x_train.shape == (16, 4)
    swapped = load_dataset("parity", classes=[1, 0], options={"bits": 3})
    assert swapped.class_names == ("odd", "even")
    np.testing.assert_array_equal(swapped.y_train, 1 - (swapped.x_train > 0).sum(axis=1) % 2)
    for bits in (1, 17, "4", 4.0):
        with pytest.raises(DataError, match="bits"):
            load_dataset("parity", options={"bits": bits})
    with pytest.raises(DataError, match="unknown option 'train_size'; allowed options: bits"):
        load_dataset("parity", options={"train_size": 4})


# ---- fetch ---------------------------------------------------------------------------------------

def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_fetch_rejects_wrong_checksum_and_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "mirror"
    make_idx_dataset(source)  # valid IDX files, but not the official ones
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="checksum mismatch") as info:
        fetch_dataset("fashion-mnist", dest, base_url=source.as_uri())
    assert "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in str(info.value)
    assert not dest.exists()  # not even the empty folders the fetch created


def test_fetch_success_then_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "mirror"
    x_tr, y_tr, _, _ = make_idx_dataset(source, n_train=30)
    table = {f"{base}.gz": md5(source / f"{base}.gz") for base in IDX_FILES}
    monkeypatch.setitem(fetch_module.CHECKSUMS, "mnist", table)
    dest = tmp_path / "dest"
    folder = fetch_dataset("mnist", dest, base_url=source.as_uri() + "/")
    assert folder == dest / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(table)  # no temporary files left
    ds = load_dataset("mnist", data_dir=dest)
    np.testing.assert_array_equal(ds.y_train, y_tr)
    # a second fetch keeps the verified files and needs no source at all
    for path in source.iterdir():
        path.unlink()
    assert fetch_dataset("mnist", dest, base_url=source.as_uri()) == folder
    # a damaged local copy is fetched again (and here fails: the mirror is gone) without being kept
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"junk")
    with pytest.raises(DataError, match="failed.*copy the files .*t10k-labels-idx1-ubyte.gz.* by hand into"):
        fetch_dataset("mnist", dest, base_url=source.as_uri())
    assert not any(p.name.endswith(".part") for p in folder.iterdir())


def test_fetch_network_failure_explains_manual_copy(tmp_path: Path, isolated_search: Path) -> None:
    with pytest.raises(DataError) as info:
        fetch_dataset("fashion-mnist", base_url=(tmp_path / "nowhere").as_uri())
    message = str(info.value)
    default_folder = isolated_search / ".cache" / "neurosim" / "fashion-mnist"
    assert "downloading" in message and "by hand" in message and str(default_folder) in message
    assert all(f"{base}.gz" in message for base in IDX_FILES)
    assert not default_folder.exists() and not default_folder.parent.exists()  # no empty folder left behind


def test_fetch_rejects_generated_and_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothing to fetch"):
        fetch_dataset("nist7x7", tmp_path)
    with pytest.raises(DataError, match="unknown data set"):
        fetch_dataset("emnist", tmp_path)


def test_fetch_checksum_table_is_the_published_one() -> None:
    assert fetch_module.CHECKSUMS["fashion-mnist"]["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert fetch_module.CHECKSUMS["mnist"]["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"
    assert all(len(table) == 4 for table in fetch_module.CHECKSUMS.values())


# ---- the real Fashion-MNIST ----------------------------------------------------------------------

def shared_data_root() -> Path:
    env = os.environ.get("NEUROSIM_TEST_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def real_fashion() -> Dataset:
    root = shared_data_root()
    folder = root / "fashion-mnist"
    if not all((folder / f"{base}.gz").is_file() or (folder / base).is_file() for base in IDX_FILES):
        pytest.skip(f"real Fashion-MNIST not found in {folder} (set NEUROSIM_TEST_DATA to the folder "
                    "that holds fashion-mnist/)")
    return load_dataset("fashion-mnist", data_dir=root)


def test_real_fashion_mnist(real_fashion: Dataset) -> None:
    ds = real_fashion
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.x_train.flags.c_contiguous
    assert 0.0 == ds.x_train.min() and ds.x_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(ds.y_train), [6000] * 10)  # per the data README
    np.testing.assert_array_equal(np.bincount(ds.y_test), [1000] * 10)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    # a trouser is taller than wide; a sandal has far less ink than a pullover
    mean = {c: ds.x_train[ds.y_train == c, 0].mean(axis=0) for c in (1, 2, 5)}
    assert mean[1].mean(axis=1)[4:24].min() > mean[1].mean(axis=0)[[2, 25]].max()
    assert mean[5].mean() < mean[2].mean()


def test_real_fashion_mnist_classes_and_sizes(real_fashion: Dataset) -> None:
    sub = load_dataset("fashion-mnist", data_dir=shared_data_root(), classes=[9, 0],
                       options={"train_size": 500, "test_size": 100})
    assert sub.class_names == ("Ankle boot", "T-shirt/top")
    assert len(sub.y_train) == 500 and len(sub.y_test) == 100
    expected = subset_classes(real_fashion, [9, 0])
    np.testing.assert_array_equal(sub.x_train, expected.x_train[:500])
    np.testing.assert_array_equal(sub.y_test, expected.y_test[:100])
