"""Tasks (data sets with their output head, loss and metric) that the trainer fits recurrent models to.

The registry (`TASK_INFO`: head, metric, defaults) imports no torch; the task classes are imported on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search._lazy import lazy_exports

from ._registry import (
    DATA_DEFAULTS,
    DATA_TASK,
    ENTRY_POINT_GROUP,
    OBJECTIVE_TASK,
    SPLITS,
    TASK_INFO,
    Head,
    Metric,
    Split,
    TaskDefaults,
    TaskInfo,
    code_tasks,
    is_code_task,
    task_defaults,
    task_info,
)

if TYPE_CHECKING:
    from ._base import Batch, ExampleTask, Task
    from ._classes import TASKS, get_task, task_parameters
    from ._data import DataTask
    from ._digits import DigitsTask, PermutedDigitsTask
    from ._mnist import MNISTTask, PermutedMNISTTask, read_idx
    from ._mnist5k import MNIST5kTask, PermutedMNIST5kTask
    from ._npz import describe as describe_data
    from ._npz import resolve_params as resolve_data_params
    from ._ptb import PTBTask
    from ._synthetic import AddingTask, CopyTask
    from ._timit import TIMITTask

__all__ = [
    "SPLITS",
    "TASKS",
    "TASK_INFO",
    "AddingTask",
    "Batch",
    "CopyTask",
    "DATA_DEFAULTS",
    "DATA_TASK",
    "DataTask",
    "ENTRY_POINT_GROUP",
    "DigitsTask",
    "ExampleTask",
    "Head",
    "MNIST5kTask",
    "MNISTTask",
    "Metric",
    "OBJECTIVE_TASK",
    "PTBTask",
    "PermutedDigitsTask",
    "PermutedMNIST5kTask",
    "PermutedMNISTTask",
    "Split",
    "TIMITTask",
    "Task",
    "TaskDefaults",
    "TaskInfo",
    "code_tasks",
    "describe_data",
    "get_task",
    "is_code_task",
    "read_idx",
    "resolve_data_params",
    "task_defaults",
    "task_info",
    "task_parameters",
]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "Batch": "._base",
        "ExampleTask": "._base",
        "Task": "._base",
        "TASKS": "._classes",
        "get_task": "._classes",
        "task_parameters": "._classes",
        "DigitsTask": "._digits",
        "PermutedDigitsTask": "._digits",
        "MNISTTask": "._mnist",
        "PermutedMNISTTask": "._mnist",
        "read_idx": "._mnist",
        "MNIST5kTask": "._mnist5k",
        "PermutedMNIST5kTask": "._mnist5k",
        "PTBTask": "._ptb",
        "AddingTask": "._synthetic",
        "CopyTask": "._synthetic",
        "DataTask": "._data",
        "describe_data": "._npz:describe",
        "resolve_data_params": "._npz:resolve_params",
        "TIMITTask": "._timit",
    },
)
