"""The synthetic long-memory tasks: copying memory and adding (generated, no files needed)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ._base import SPLITS, Batch, ExampleTask, Split, check_int


def _split_rng(seed: int, split: Split) -> np.random.Generator:
    # One independent stream per split, so changing n_train leaves valid and test unchanged.
    return np.random.default_rng([seed, SPLITS.index(split)])


def _split_sizes(n_train: object, n_valid: object, n_test: object) -> dict[Split, int]:
    return {
        "train": check_int("n_train", n_train, minimum=1),
        "valid": check_int("n_valid", n_valid, minimum=1),
        "test": check_int("n_test", n_test, minimum=1),
    }


class _GeneratedTask(ExampleTask):
    """Holds each split's generated ``self._inputs`` and ``self._targets``, batch-major."""

    _inputs: dict[Split, Tensor]
    _targets: dict[Split, Tensor]

    def _split_size(self, split: Split) -> int:
        return len(self._targets[split])


class CopyTask(_GeneratedTask):
    """Copying memory (Arjovsky et al. 2016; the layout of Lezcano-Casado & Martínez-Rubio's expRNN code).

    Input ids, ``T = delay + 20`` steps: 10 symbols drawn uniformly from ``{1..8}``, ``delay`` blanks (0),
    the delimiter 9, then 9 blanks. Targets: blank for the first ``delay + 10`` steps, then the 10 symbols,
    the first one due at the delimiter step. Inputs are one-hot of size 10; the head classifies every step
    into 10 classes (blank, 8 symbols, delimiter).

    The metric is the mean cross-entropy per step. A memoryless model that outputs blank, then a uniform
    guess over the 8 symbols for the last 10 steps, scores ``baseline = 10 * ln(8) / T``.

    Args:
        delay: blanks between the symbols and the delimiter (the paper uses 2000).
        n_train, n_valid, n_test: examples per split.
        seed: data seed; each split has its own stream.
    """

    name = "copy"
    input_size = 10
    output_size = 10

    SYMBOLS_LENGTH = 10
    DELIMITER = 9

    def __init__(
        self, *, delay: int = 50, n_train: int = 10_000, n_valid: int = 1_000, n_test: int = 1_000, seed: int = 0
    ) -> None:
        sizes = _split_sizes(n_train, n_valid, n_test)
        delay = check_int("delay", delay, minimum=0)
        seed = check_int("seed", seed, minimum=0)
        super().__init__(delay=delay, n_train=sizes["train"], n_valid=sizes["valid"], n_test=sizes["test"], seed=seed)
        k = self.SYMBOLS_LENGTH
        self.length = delay + 2 * k
        self.baseline = k * math.log(8) / self.length
        self._inputs, self._targets = {}, {}
        for split, n in sizes.items():
            symbols = _split_rng(seed, split).integers(1, 9, size=(n, k), dtype=np.uint8)
            inputs = np.zeros((n, self.length), dtype=np.uint8)
            inputs[:, :k] = symbols
            inputs[:, delay + k] = self.DELIMITER
            targets = np.zeros((n, self.length), dtype=np.uint8)
            targets[:, -k:] = symbols
            # uint8 ids: 8x smaller than int64 for the paper's T = 2020; widened per batch.
            self._inputs[split] = torch.from_numpy(inputs)
            self._targets[split] = torch.from_numpy(targets)

    def _make_batch(self, split: Split, index: Tensor) -> Batch:
        ids = self._inputs[split][index].T.long()
        return Batch(
            x=F.one_hot(ids, self.input_size).to(torch.float32),
            y=self._targets[split][index].T.long().contiguous(),
        )


class AddingTask(_GeneratedTask):
    """The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015).

    Input ``(T, B, 2)``: channel 0 holds values uniform in ``[0, 1)``, channel 1 is 1 at exactly two
    steps, one in the first half (``t < T // 2``) and one in the second, 0 elsewhere. The target is the
    sum of the two marked values; the head regresses it from the last step.

    The metric is the mean squared error. Predicting the constant 1 scores ``baseline = 1/6``, the
    variance of a sum of two independent uniforms.

    Args:
        length: sequence length ``T`` (the paper uses 750).
        n_train, n_valid, n_test: examples per split.
        seed: data seed; each split has its own stream.
    """

    name = "adding"
    input_size = 2
    output_size = 1
    baseline = 1.0 / 6.0

    def __init__(
        self, *, length: int = 50, n_train: int = 10_000, n_valid: int = 1_000, n_test: int = 1_000, seed: int = 0
    ) -> None:
        sizes = _split_sizes(n_train, n_valid, n_test)
        length = check_int("length", length, minimum=2)
        seed = check_int("seed", seed, minimum=0)
        super().__init__(length=length, n_train=sizes["train"], n_valid=sizes["valid"], n_test=sizes["test"], seed=seed)
        self.length = length
        self._inputs, self._targets = {}, {}
        half = length // 2
        for split, n in sizes.items():
            rng = _split_rng(seed, split)
            values = rng.random((n, length), dtype=np.float32)
            rows = np.arange(n)
            first = rng.integers(0, half, size=n)
            second = rng.integers(half, length, size=n)
            markers = np.zeros((n, length), dtype=np.float32)
            markers[rows, first] = 1.0
            markers[rows, second] = 1.0
            self._inputs[split] = torch.from_numpy(np.stack([values, markers], axis=-1))
            self._targets[split] = torch.from_numpy(values[rows, first] + values[rows, second])[:, None]

    def _make_batch(self, split: Split, index: Tensor) -> Batch:
        return Batch(x=self._inputs[split][index].transpose(0, 1).contiguous(), y=self._targets[split][index])
