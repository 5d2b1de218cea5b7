"""TIMIT next-frame prediction from the MomentumRNN authors' preprocessed arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._base import Batch, ExampleTask, Split

# The authors name the validation split "eval".
_PREFIX: dict[Split, str] = {"train": "train", "valid": "eval", "test": "test"}


def timit_file_names(split: Split) -> tuple[str, str, str]:
    """The ``(inputs, targets, lengths)`` file names of one split."""
    prefix = _PREFIX[split]
    return f"{prefix}_x.npy", f"{prefix}_z.npy", f"lens_{prefix}.npy"


class TIMITTask(ExampleTask):
    """Next-frame prediction on TIMIT log-magnitude STFT frames (129 bins in the paper's arrays).

    Reads, for ``prefix`` in ``train``, ``eval`` (the validation split) and ``test``, from ``data_dir``:
    ``{prefix}_x.npy`` inputs and ``{prefix}_z.npy`` targets, both ``(N, T, F)`` and zero-padded after
    each utterance's length, and ``lens_{prefix}.npy`` ``(N,)``, the valid frames per utterance. The head
    regresses every step; loss and metric are the squared error averaged over valid frames and bins
    (``Batch.mask``). A batch is cut to its longest utterance.

    The arrays are memory-mapped rather than loaded (the full training set is gigabytes of float32) and
    read per batch; processes on one machine share the pages.

    Args:
        data_dir: folder of the nine ``.npy`` files.
    """

    name = "timit"

    def __init__(self, *, data_dir: str | os.PathLike[str] = "data/timit") -> None:
        directory = Path(data_dir).expanduser()
        super().__init__(data_dir=str(directory))
        expected = [name for split in _PREFIX for name in timit_file_names(split)]
        missing = [name for name in expected if not (directory / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"TIMIT arrays missing in {directory}: {', '.join(missing)}; expected all of "
                f"{', '.join(expected)} (x and z (N, T, 129) float arrays, lens (N,) integers)"
            )
        self._inputs: dict[Split, np.ndarray] = {}
        self._targets: dict[Split, np.ndarray] = {}
        self._lengths: dict[Split, Tensor] = {}
        features = set()
        for split in _PREFIX:
            x_name, z_name, lens_name = timit_file_names(split)
            inputs = np.load(directory / x_name, mmap_mode="r")
            targets = np.load(directory / z_name, mmap_mode="r")
            lengths = np.load(directory / lens_name)
            if inputs.ndim != 3 or targets.shape != inputs.shape or lengths.shape != inputs.shape[:1]:
                raise ValueError(
                    f"TIMIT {split} arrays in {directory} disagree: {x_name} {inputs.shape}, "
                    f"{z_name} {targets.shape}, {lens_name} {lengths.shape}; expected (N, T, F), (N, T, F), (N,)"
                )
            if len(lengths) == 0 or lengths.min() < 1 or lengths.max() > inputs.shape[1]:
                raise ValueError(
                    f"{directory / lens_name}: lengths must lie in [1, {inputs.shape[1]}] (the padded length); "
                    f"got {lengths.min(initial=0)}..{lengths.max(initial=0)} over {len(lengths)} utterances"
                )
            features.add(inputs.shape[2])
            self._inputs[split] = inputs
            self._targets[split] = targets
            self._lengths[split] = torch.from_numpy(lengths.astype(np.int64))
        if len(features) != 1:
            raise ValueError(f"TIMIT arrays in {directory} have different frame sizes across splits: {features}")
        self.input_size = self.output_size = features.pop()

    def _split_size(self, split: Split) -> int:
        return len(self._lengths[split])

    def _make_batch(self, split: Split, index: Tensor) -> Batch:
        lengths = self._lengths[split][index]
        steps = int(lengths.max())
        rows = index.numpy()

        def frames(array: np.ndarray) -> Tensor:
            batch_major = np.ascontiguousarray(array[rows, :steps], dtype=np.float32)
            return torch.from_numpy(batch_major).transpose(0, 1).contiguous()

        mask = torch.arange(steps)[:, None] < lengths[None, :]
        return Batch(x=frames(self._inputs[split]), y=frames(self._targets[split]), mask=mask)
