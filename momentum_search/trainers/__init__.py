"""Cells, tasks and the loop that trains one configuration. Knows nothing of Optuna or Ray.

The configs and the registries (`CELL_KINDS`, `TASK_INFO`) import no torch; the cells, the task classes
and the trainer are imported on first use, so that reading a study never loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search._lazy import lazy_exports
from momentum_search.trainers._config import (
    MAX_EPOCHS,
    MAX_SEED,
    FunctionName,
    Integer,
    Real,
    TrainConfig,
    TrainResult,
    UserObjective,
    check_device,
)
from momentum_search.trainers._imports import load_function
from momentum_search.trainers._memory import keep_freed_memory
from momentum_search.trainers._user_loop import ObjectiveError, TrialConfig, TrialPruned, loop_result
from momentum_search.trainers.cells import CELL_KINDS, CellKind
from momentum_search.trainers.tasks import TASK_INFO, TaskInfo, task_info

if TYPE_CHECKING:
    from momentum_search.trainers._train import Trainer, build_model, evaluate, train
    from momentum_search.trainers.cells import StreamState, build_cell, gradient_flow
    from momentum_search.trainers.tasks import TASKS, Task, get_task

__all__ = [
    "CELL_KINDS",
    "MAX_EPOCHS",
    "MAX_SEED",
    "ObjectiveError",
    "TASKS",
    "TASK_INFO",
    "CellKind",
    "FunctionName",
    "Integer",
    "Real",
    "StreamState",
    "Task",
    "TaskInfo",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrialConfig",
    "TrialPruned",
    "UserObjective",
    "build_cell",
    "build_model",
    "check_device",
    "evaluate",
    "get_task",
    "gradient_flow",
    "keep_freed_memory",
    "load_function",
    "loop_result",
    "task_info",
    "train",
]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "Trainer": "._train",
        "build_model": "._train",
        "evaluate": "._train",
        "train": "._train",
        "StreamState": ".cells",
        "build_cell": ".cells",
        "gradient_flow": ".cells",
        "TASKS": ".tasks",
        "Task": ".tasks",
        "get_task": ".tasks",
    },
)
