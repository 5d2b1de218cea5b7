from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

# pytest-xdist runs one process per core; one torch thread each keeps them from fighting.
torch.set_num_threads(1)


class NpzData:
    """Builds the arrays of a data task's `.npz` and writes them (the trainer's and the studies' tests)."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def arrays(self, x_shape: tuple[int, ...] = (12, 6, 3), y: str = "class", **extra: np.ndarray) -> dict[str, np.ndarray]:
        """Train and valid splits: x of `x_shape` (float, or int token ids when 2-D), y of one kind:
        `class` (N,), `step` (N, T) classes, `target` (N,), `targets` (N, 2), `each` (N, T, 2) floats."""
        out: dict[str, np.ndarray] = {}
        n, steps = x_shape[0], x_shape[1]
        for split in ("train", "valid"):
            x = self.rng.integers(0, 7, x_shape) if len(x_shape) == 2 else self.rng.normal(size=x_shape).astype(np.float32)
            out[f"x_{split}"] = x
            out[f"y_{split}"] = {
                "class": lambda: self.rng.integers(0, 3, n),
                "step": lambda: self.rng.integers(0, 3, (n, steps)),
                "target": lambda: self.rng.normal(size=n),
                "targets": lambda: self.rng.normal(size=(n, 2)),
                "each": lambda: self.rng.normal(size=(n, steps, 2)),
            }[y]()
        out.update(extra)
        return out

    @staticmethod
    def write(path: Path, arrays: dict[str, Any]) -> str:
        np.savez(path, **arrays)
        return str(path)


@pytest.fixture
def npz() -> NpzData:
    return NpzData()
