"""Tasks (data sets with their output head, loss and metric) that the trainer fits recurrent models to."""

from __future__ import annotations

from ._base import SPLITS, Batch, ExampleTask, Head, Metric, Split, Task, TaskDefaults
from ._digits import DigitsTask, PermutedDigitsTask
from ._mnist import MNISTTask, PermutedMNISTTask, read_idx
from ._ptb import PTBTask
from ._registry import TASKS, get_task, task_parameters
from ._synthetic import AddingTask, CopyTask
from ._timit import TIMITTask

__all__ = [
    "SPLITS",
    "TASKS",
    "AddingTask",
    "Batch",
    "CopyTask",
    "DigitsTask",
    "ExampleTask",
    "Head",
    "MNISTTask",
    "Metric",
    "PTBTask",
    "PermutedDigitsTask",
    "PermutedMNISTTask",
    "Split",
    "TIMITTask",
    "Task",
    "TaskDefaults",
    "get_task",
    "read_idx",
    "task_parameters",
]
