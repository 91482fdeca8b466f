"""Shared test fixtures: where the real data set lives (or a clear skip when it is absent), and the numpy
im2col the convolution kernels' twins use."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    root = Path(os.environ.get("NEUROSIM_TEST_DATA", REPO.parent / "shared" / "data"))
    return root if (root / "fashion-mnist").is_dir() else None


@pytest.fixture
def fashion_data_dir() -> Path:
    root = shared_data_dir()
    if root is None:
        pytest.skip("Fashion-MNIST not found: set NEUROSIM_TEST_DATA to a folder holding fashion-mnist/ "
                    "(default ../shared/data)")
    return root


def config_with(*sets: str, chip: str = "chips/reference.yaml", workload: str = "workloads/nist7x7.yaml"):
    """A validated RunConfig from the shipped files with ``--set`` style overrides."""
    from neurosim.spec import load_config

    return load_config(REPO / chip, REPO / workload, sets)


TINY_PARITY = ("dataset.name=parity", "dataset.options={bits: 4}", "network.hidden=[6]",
               "network.activation=tanh", "train.eval_size=16")


def call_cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """``neurosim ARGS`` in-process: exit status (argparse's own errors included), stdout, stderr."""
    from neurosim.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def im2col_numpy(x: np.ndarray) -> np.ndarray:
    """Same-padded 3x3 patches of x (B, H, W, C) as rows (B*H*W, 9*C), ordered (ky, kx, c)."""
    batch, h, w, c_in = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    taps = [padded[:, ky:ky + h, kx:kx + w, :] for ky in range(3) for kx in range(3)]
    return np.concatenate(taps, axis=-1).reshape(batch * h * w, 9 * c_in)
