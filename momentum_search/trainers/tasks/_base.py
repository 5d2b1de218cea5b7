"""The task interface: data splits, batches, losses and metrics shared by every task."""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ._registry import SPLITS, TASK_INFO, Head, Metric, Split, TaskDefaults

_VALID_FRACTION = 0.1
_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Batch:
    """One batch, time-major like ``torch.nn.LSTM``.

    Attributes:
        x: ``(T, B, I)`` float32 inputs; ``(T, B)`` int64 token ids for ``language_model``.
        y: targets, ``(B,)`` int64 for ``classify_last``, ``(T, B)`` int64 for ``classify_each`` and
            ``language_model``, ``(B, O)`` float32 for ``regress_last``, ``(T, B, O)`` float32 for
            ``regress_each``.
        mask: ``(T, B)`` bool, ``True`` on valid steps (padded sequences); ``None`` when all are valid.
    """

    x: Tensor
    y: Tensor
    mask: Tensor | None = None


class Task(ABC):
    """A data set with its splits, output head, training loss and metric.

    Data is generated or loaded once, in the constructor, from the task's own parameters (including its
    own data seed), so a task is the same whatever the trainer's seed. Batches live on the CPU; the
    trainer moves them to its device.
    """

    name: ClassVar[str]
    head: Head
    input_size: int  # features per step; the embedding size for token ids
    output_size: int  # classes, regression dimensions or vocabulary size
    vocab_size: int | None = None  # token-id inputs (language_model, data of token ids): the ids' count
    metric: Metric
    defaults: TaskDefaults
    stateful: bool = False  # True: the trainer carries the hidden state across consecutive batches

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A concrete task's head, metric and defaults are its registry entry's, which specs and the
        # read-only commands consult without importing torch (the data task's come from its file).
        if "name" in vars(cls) and cls.name in TASK_INFO:
            info = TASK_INFO[cls.name]
            cls.head, cls.metric, cls.defaults = info.head, info.metric, info.defaults

    def __init__(self, **params: Any) -> None:
        self._params = params

    @property
    def params(self) -> dict[str, Any]:
        """The resolved constructor parameters (defaults filled in), for provenance."""
        return dict(self._params)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self._params.items())
        return f"{type(self).__name__}({args})"

    @abstractmethod
    def batches(self, split: Split, batch_size: int, *, generator: torch.Generator | None = None) -> Iterator[Batch]:
        """Yield the batches of one pass over ``split``.

        The train split is shuffled by ``generator`` when one is given; evaluation splits come in a
        fixed order and keep their last partial batch. Stateful tasks yield consecutive segments and
        never shuffle.
        """

    @abstractmethod
    def num_batches(self, split: Split, batch_size: int) -> int:
        """How many batches :meth:`batches` yields for ``split`` and ``batch_size``."""

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        """Mean training loss of one batch: cross-entropy for classification and language models, squared
        error for regression, averaged over the valid steps (and output dimensions).

        Args:
            output: the model's head output, ``(B, C)`` logits for ``classify_last``, ``(T, B, C)``
                logits for ``classify_each`` and ``language_model``, ``(B, O)`` for ``regress_last``,
                ``(T, B, O)`` for ``regress_each``.
            batch: the batch ``output`` was computed from.
        """
        return self._valid(self._loss_terms(output, batch), batch).mean()

    @torch.no_grad()
    def metric_sums(self, output: Tensor, batch: Batch) -> tuple[float, int]:
        """``(sum, count)`` of the metric over one batch; a split's metric is
        ``finalize(total_sum / total_count)``."""
        if self.metric.name == "accuracy":
            self._check_output(output, batch)
            terms = (output.argmax(dim=-1) == batch.y).to(torch.float64) * 100.0
        else:
            terms = self._loss_terms(output, batch)
        terms = self._valid(terms, batch)
        return float(terms.to(torch.float64).sum()), terms.numel()

    def finalize(self, mean: float) -> float:
        """Turn the mean of :meth:`metric_sums` into the metric: identity, except perplexity = exp(mean)."""
        if self.metric.name != "perplexity":
            return mean
        try:
            return math.exp(mean)
        except OverflowError:  # a diverged model; inf still ranks it last
            return math.inf

    def _check_output(self, output: Tensor, batch: Batch) -> None:
        regress = self.head in ("regress_last", "regress_each")
        expected = tuple(batch.y.shape) if regress else (*batch.y.shape, self.output_size)
        if tuple(output.shape) != expected:
            raise ValueError(
                f"task {self.name!r} (head {self.head!r}) expects an output of shape {expected}, got {tuple(output.shape)}"
            )

    def _loss_terms(self, output: Tensor, batch: Batch) -> Tensor:
        """Per-element losses, shaped like ``batch.y`` (per step and output dimension for regression)."""
        self._check_output(output, batch)
        if self.head in ("regress_last", "regress_each"):
            return (output - batch.y).square()
        flat = F.cross_entropy(output.reshape(-1, self.output_size), batch.y.reshape(-1), reduction="none")
        return flat.view(batch.y.shape)

    def _valid(self, terms: Tensor, batch: Batch) -> Tensor:
        # Boolean indexing on the leading (T, B) dimensions keeps every output dimension of valid steps;
        # a *_last head's terms are per sequence, read at each one's last valid step already.
        return terms if batch.mask is None or self.head.endswith("_last") else terms[batch.mask]


class ExampleTask(Task):
    """A task whose splits are sets of independent examples, batched along the example axis.

    Subclasses say how many examples a split holds and how to build the batch of given examples. The
    train split drops its last partial batch (every step sees a full batch) unless the split is smaller
    than one batch; evaluation splits keep it.
    """

    @abstractmethod
    def _split_size(self, split: Split) -> int:
        """Number of examples in ``split``."""

    @abstractmethod
    def _make_batch(self, split: Split, index: Tensor) -> Batch:
        """The batch of the examples ``index`` (int64, 1-D) of ``split``."""

    def batches(self, split: Split, batch_size: int, *, generator: torch.Generator | None = None) -> Iterator[Batch]:
        count = self.num_batches(split, batch_size)
        size = self._split_size(split)
        if split == "train" and generator is not None:
            order = torch.randperm(size, generator=generator)
        else:
            order = torch.arange(size)
        for start in range(0, count * batch_size, batch_size):
            yield self._make_batch(split, order[start : start + batch_size])

    def num_batches(self, split: Split, batch_size: int) -> int:
        check_split(split)
        check_int("batch_size", batch_size, minimum=1)
        size = self._split_size(split)
        if split == "train":
            return max(size // batch_size, 1)
        return -(-size // batch_size)


def check_split(split: object) -> None:
    """Raise ``ValueError`` unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")


def check_int(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``, else raise ``ValueError``."""
    allowed = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    return number


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool``, else raise ``ValueError``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return value


class PixelSequenceTask(ExampleTask):
    """Classify images read one pixel per step (``I = 1``), optionally in a fixed permuted order.

    Subclasses load ``self._images`` (split -> ``(N, T)`` uint8 pixels, already permuted if need be) and
    ``self._labels`` (split -> ``(N,)`` int64) and set ``self._scale`` (the pixel maximum, 16 or 255), by
    hand or through :meth:`_split_stratified`.
    Pixels stay uint8 until batched, which keeps MNIST at 55 MB instead of 220 MB per process.
    """

    input_size = 1
    output_size = 10

    _images: dict[Split, Tensor]
    _labels: dict[Split, Tensor]
    _scale: float

    def _split_size(self, split: Split) -> int:
        return len(self._labels[split])

    def _permute(self, permutation_seed: int) -> None:
        """Read every image in one fixed random pixel order, a function of ``permutation_seed`` alone
        (``self.permutation``: step ``t`` reads pixel ``permutation[t]`` of the row-major image)."""
        self._params["permutation_seed"] = permutation_seed
        length = self._images["train"].shape[1]
        self.permutation = torch.randperm(length, generator=torch.Generator().manual_seed(permutation_seed))
        self._images = {split: images[:, self.permutation].contiguous() for split, images in self._images.items()}

    def _split_stratified(self, pixels: np.ndarray, labels: np.ndarray, *, scale: float, split_seed: int) -> None:
        """Split ``(N, T)`` uint8 ``pixels`` and their ``(N,)`` ``labels``, stratified by label and fixed by
        ``split_seed``: 20 % test, then 10 % of ``N`` validation from the rest, the other 70 % train. Each
        split keeps the data set's order."""
        # Late import: scikit-learn takes a second to import and only these tasks need it.
        from sklearn.model_selection import train_test_split

        n = len(labels)
        rest, test = train_test_split(np.arange(n), test_size=round(_TEST_FRACTION * n), stratify=labels, random_state=split_seed)
        train, valid = train_test_split(
            rest, test_size=round(_VALID_FRACTION * n), stratify=labels[rest], random_state=split_seed
        )
        images = torch.from_numpy(pixels.astype(np.uint8))
        targets = torch.from_numpy(labels.astype(np.int64))
        self._scale = scale
        self._images, self._labels = {}, {}
        for split, index in zip(SPLITS, (train, valid, test)):
            order = torch.from_numpy(np.sort(index))
            self._images[split] = images[order]
            self._labels[split] = targets[order]

    def _make_batch(self, split: Split, index: Tensor) -> Batch:
        pixels = self._images[split][index].to(torch.float32).div_(self._scale)
        return Batch(x=pixels.T.unsqueeze(-1).contiguous(), y=self._labels[split][index])
