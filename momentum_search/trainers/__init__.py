"""Cells, tasks and the loop that trains one configuration. Knows nothing of Optuna or Ray."""

from __future__ import annotations

from momentum_search.trainers._config import MAX_EPOCHS, MAX_SEED, Integer, Real, TrainConfig, TrainResult, check_device
from momentum_search.trainers._train import Trainer, build_model, evaluate, train
from momentum_search.trainers.cells import CELL_KINDS, CellKind, StreamState, build_cell, gradient_flow
from momentum_search.trainers.tasks import TASKS, Task, get_task

__all__ = [
    "CELL_KINDS",
    "MAX_EPOCHS",
    "MAX_SEED",
    "TASKS",
    "CellKind",
    "Integer",
    "Real",
    "StreamState",
    "Task",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_cell",
    "build_model",
    "check_device",
    "evaluate",
    "get_task",
    "gradient_flow",
    "train",
]
