"""Sequential (and permuted) 8x8 digits from scikit-learn: the small embedded task, no download needed."""

from __future__ import annotations

from ._base import PixelSequenceTask, check_int


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
        # Late import: scikit-learn takes a second to import and only these tasks need it.
        from sklearn.datasets import load_digits

        split_seed = check_int("split_seed", split_seed, minimum=0)
        super().__init__(split_seed=split_seed)
        images, labels = load_digits(return_X_y=True)
        self._split_stratified(images, labels, scale=16.0, split_seed=split_seed)


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
