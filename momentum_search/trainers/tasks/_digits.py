"""Sequential (and permuted) 8x8 digits from scikit-learn: the small embedded task, no download needed."""

from __future__ import annotations

import numpy as np
import torch

from ._base import SPLITS, PixelSequenceTask, check_int

_VALID_FRACTION = 0.1
_TEST_FRACTION = 0.2


class DigitsTask(PixelSequenceTask):
    """scikit-learn's ``load_digits`` (1797 images, 8x8, values 0..16) read as 64-step pixel sequences.

    Inputs are pixel / 16, one pixel per step in row-major order; the head classifies the last step into
    10 digits; the metric is the accuracy in percent. The split is fixed by ``split_seed`` and stratified
    by digit: 20 % test, 10 % validation carved from the rest, 70 % train (1258 / 180 / 359 images).

    Args:
        split_seed: seed of the train/valid/test split.
    """

    name = "digits"

    def __init__(self, *, split_seed: int = 0) -> None:
        # Late imports: scikit-learn takes a second to import and only these tasks need it.
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        split_seed = check_int("split_seed", split_seed, minimum=0)
        super().__init__(split_seed=split_seed)
        images, labels = load_digits(return_X_y=True)
        n = len(labels)
        rest, test = train_test_split(
            np.arange(n), test_size=round(_TEST_FRACTION * n), stratify=labels, random_state=split_seed
        )
        train, valid = train_test_split(
            rest, test_size=round(_VALID_FRACTION * n), stratify=labels[rest], random_state=split_seed
        )
        pixels = torch.from_numpy(images.astype(np.uint8))
        targets = torch.from_numpy(labels.astype(np.int64))
        self._scale = 16.0
        self._images, self._labels = {}, {}
        for split, index in zip(SPLITS, (train, valid, test)):
            index = torch.from_numpy(np.sort(index))
            self._images[split] = pixels[index]
            self._labels[split] = targets[index]


class PermutedDigitsTask(DigitsTask):
    """:class:`DigitsTask` with the 64 pixels of every image read in one fixed random order.

    Args:
        split_seed: seed of the train/valid/test split.
        permutation_seed: seed of the pixel order, ``self.permutation``.
    """

    name = "pdigits"

    def __init__(self, *, split_seed: int = 0, permutation_seed: int = 0) -> None:
        permutation_seed = check_int("permutation_seed", permutation_seed, minimum=0)
        super().__init__(split_seed=split_seed)
        self._permute(permutation_seed)
