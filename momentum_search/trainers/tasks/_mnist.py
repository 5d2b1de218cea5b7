"""Pixel-by-pixel MNIST and permuted MNIST, read from the standard IDX files."""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import struct
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from ._base import PixelSequenceTask, check_bool, check_int

FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Tried in order; LeCun's own site now often refuses scripted downloads, so it is not listed.
_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_TIMEOUT_SECONDS = 10.0
_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (LeCun's MNIST format), gzipped when its name ends in ``.gz``.

    The header is two zero bytes, the type code (0x08 = ubyte), the number of dimensions ``d``, then ``d``
    big-endian uint32 sizes; the data follows in row-major order.

    Raises:
        ValueError: the file is not a well-formed ubyte IDX file.
    """
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as stream:
            data = stream.read()
    except (OSError, EOFError, zlib.error) as error:  # corrupt or truncated gzip streams
        raise ValueError(f"cannot read {path}: {error}") from error
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != _UBYTE:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (header {data[:4].hex()})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:offset]) if len(data) >= offset else ()
    if len(data) < offset or len(data) != offset + math.prod(shape):
        raise ValueError(f"{path}: {len(data)} bytes do not match the IDX header's shape {shape}")
    # A writable copy: torch.from_numpy warns on the read-only view of the bytes.
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape).copy()


def _find(data_dir: Path, name: str) -> Path | None:
    for path in (data_dir / name, data_dir / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def _download(data_dir: Path, name: str) -> str | None:
    """Fetch ``name.gz`` into ``data_dir`` from the first mirror that serves it intact; the error otherwise."""
    target = data_dir / f"{name}.gz"
    partial = data_dir / f"{name}.gz.part"
    errors = []
    for mirror in _MIRRORS:
        url = mirror + target.name
        try:
            with urllib.request.urlopen(url, timeout=_TIMEOUT_SECONDS) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
            digest = hashlib.md5(partial.read_bytes(), usedforsecurity=False).hexdigest()
            if digest != _MD5[target.name]:
                raise ValueError(f"MD5 {digest} != {_MD5[target.name]}")
        except (OSError, ValueError) as error:  # URLError and socket timeouts are OSErrors
            errors.append(f"{url}: {error}")
            partial.unlink(missing_ok=True)
            continue
        # Rename last, so an interrupted download never leaves a file that looks complete.
        partial.replace(target)
        return None
    return "; ".join(errors)


def load_mnist(data_dir: Path, *, download: bool) -> dict[str, np.ndarray]:
    """The four MNIST arrays keyed by file name (without ``.gz``), downloading missing files if allowed.

    Raises:
        FileNotFoundError: files are missing and could not be downloaded; names the directory and files.
        ValueError: a file is malformed.
    """
    missing = [name for name in FILE_NAMES if _find(data_dir, name) is None]
    failure = ""
    if missing and download:
        data_dir.mkdir(parents=True, exist_ok=True)
        errors = [error for name in missing if (error := _download(data_dir, name)) is not None]
        failure = f"; download failed: {'; '.join(errors)}" if errors else ""
        missing = [name for name in FILE_NAMES if _find(data_dir, name) is None]
    if missing:
        hint = failure or " (download=False)"
        raise FileNotFoundError(
            f"MNIST files missing in {data_dir}: {', '.join(missing)} (each may be gzipped, named *.gz); "
            f"expected all of {', '.join(FILE_NAMES)}{hint}"
        )
    return {name: read_idx(path) for name in FILE_NAMES if (path := _find(data_dir, name)) is not None}


class MNISTTask(PixelSequenceTask):
    """Pixel-by-pixel MNIST: 784-step sequences of pixel / 255, one pixel per step in row-major order.

    Reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (each gzipped as ``*.gz`` or not) from ``data_dir``. The last ``n_valid``
    training images are the validation split, t10k is the test split. The head classifies the last step
    into 10 digits; the metric is the accuracy in percent.

    Args:
        data_dir: folder of the IDX files.
        download: fetch missing files (gzipped, MD5-checked) from a public mirror into ``data_dir``.
        n_valid: training images held out, from the end, for validation.
    """

    name = "mnist"

    def __init__(self, *, data_dir: str | os.PathLike[str] = "data/mnist", download: bool = True, n_valid: int = 5_000) -> None:
        directory = Path(data_dir).expanduser()
        download = check_bool("download", download)
        n_valid = check_int("n_valid", n_valid, minimum=1)
        super().__init__(data_dir=str(directory), download=download, n_valid=n_valid)
        arrays = load_mnist(directory, download=download)
        train_images, train_labels, test_images, test_labels = (arrays[name] for name in FILE_NAMES)
        for images, labels in ((train_images, train_labels), (test_images, test_labels)):
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or labels.max(initial=0) > 9:
                raise ValueError(
                    f"MNIST files in {directory} are inconsistent: images of shape {images.shape}, "
                    f"labels of shape {labels.shape} with maximum {labels.max(initial=0)}"
                )
        if train_images.shape[1:] != test_images.shape[1:]:
            raise ValueError(
                f"MNIST files in {directory}: train images are {train_images.shape[1:]}, t10k images {test_images.shape[1:]}"
            )
        if n_valid >= len(train_labels):
            raise ValueError(f"n_valid must be in [1, {len(train_labels) - 1}] for {directory}; got {n_valid}")
        cut = len(train_labels) - n_valid
        flat_train = torch.from_numpy(train_images.reshape(len(train_images), -1))
        self._scale = 255.0
        self._images = {
            "train": flat_train[:cut],
            "valid": flat_train[cut:],
            "test": torch.from_numpy(test_images.reshape(len(test_images), -1)),
        }
        targets = torch.from_numpy(train_labels.astype(np.int64))
        self._labels = {
            "train": targets[:cut],
            "valid": targets[cut:],
            "test": torch.from_numpy(test_labels.astype(np.int64)),
        }


class PermutedMNISTTask(MNISTTask):
    """:class:`MNISTTask` with the 784 pixels of every image read in one fixed random order.

    Args:
        data_dir, download, n_valid: as for :class:`MNISTTask`.
        permutation_seed: seed of the pixel order, ``self.permutation``.
    """

    name = "pmnist"

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str] = "data/mnist",
        download: bool = True,
        n_valid: int = 5_000,
        permutation_seed: int = 0,
    ) -> None:
        permutation_seed = check_int("permutation_seed", permutation_seed, minimum=0)
        super().__init__(data_dir=data_dir, download=download, n_valid=n_valid)
        self._permute(permutation_seed)
