"""The user's own data (an `.npz` file, checked by `_npz.py`) as a task the trainer fits."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._base import Batch, ExampleTask
from ._npz import Data, load_data
from ._registry import DATA_DEFAULTS, DATA_TASK, Metric, Split


class ArrayTask(ExampleTask):
    """Checked arrays (`_npz.Data`: an `.npz` file's, or those a code task returns) as a task: head,
    metric and sizes as the arrays imply or the options said; the trainer defaults of `DATA_DEFAULTS`.

    `params` are what the task records for provenance."""

    name = "arrays"
    defaults = DATA_DEFAULTS

    def __init__(self, data: Data, **params: Any) -> None:
        super().__init__(**params)
        self.data = data
        self.head = data.head
        self.metric = Metric(data.metric, data.direction)  # type: ignore[arg-type]
        self.input_size, self.output_size, self.vocab_size = data.input_size, data.output_size, data.vocab_size
        self._arrays: dict[Split, tuple[Tensor, Tensor, Tensor | None]] = {
            split: (torch.from_numpy(a.x), torch.from_numpy(a.y), None if a.lengths is None else torch.from_numpy(a.lengths))
            for split, a in data.splits.items()
        }

    def _split_size(self, split: Split) -> int:
        return len(self._arrays[split][0])

    def _make_batch(self, split: Split, index: Tensor) -> Batch:
        x, y, lengths = (None if array is None else array[index] for array in self._arrays[split])
        assert x is not None and y is not None
        mask = None
        if lengths is not None:
            # Steps after the batch's longest sequence are padding in every column: they are not run.
            steps = int(lengths.max())
            x, y = x[:, :steps], (y[:, :steps] if self.head.endswith("_each") else y)
            mask = torch.arange(steps).unsqueeze(1) < lengths.unsqueeze(0)
        # Time-major, as every task's batches: (B, T, ...) -> (T, B, ...); a per-sequence y stays (B, ...).
        return Batch(
            x=x.transpose(0, 1).contiguous(), y=y.transpose(0, 1).contiguous() if self.head.endswith("_each") else y, mask=mask
        )


class DataTask(ArrayTask):
    """The splits of an `.npz` file; head, metric and sizes as the file implies or the options say.

    Args:
        path: the `.npz` file (see `_npz.py` and `docs/your-own-problem.md` for its arrays).
        head, metric, direction, classes: override what the arrays imply.
        sha256: the content the study was launched on; a file that differs is refused.

    Raises:
        DataError: a ValueError of one line naming the file (`_npz.load_data`).
    """

    name = DATA_TASK

    def __init__(
        self,
        *,
        path: str,
        head: str | None = None,
        metric: str | None = None,
        direction: str | None = None,
        classes: int | None = None,
        sha256: str | None = None,
    ) -> None:
        options = {"head": head, "metric": metric, "direction": direction, "classes": classes, "sha256": sha256}
        data = load_data(path, **{name: value for name, value in options.items() if value is not None})
        super().__init__(data, **data.params())

    def __repr__(self) -> str:
        return f"DataTask(path={self.data.path!r})"
