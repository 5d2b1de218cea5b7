"""The task classes by name, and validated construction from parameters."""

from __future__ import annotations

import inspect
from typing import Any

from ._base import Task
from ._digits import DigitsTask, PermutedDigitsTask
from ._mnist import MNISTTask, PermutedMNISTTask
from ._mnist5k import MNIST5kTask, PermutedMNIST5kTask
from ._ptb import PTBTask
from ._registry import task_info
from ._synthetic import AddingTask, CopyTask
from ._timit import TIMITTask

TASKS: dict[str, type[Task]] = {
    task.name: task
    for task in (
        CopyTask,
        AddingTask,
        DigitsTask,
        PermutedDigitsTask,
        MNISTTask,
        PermutedMNISTTask,
        MNIST5kTask,
        PermutedMNIST5kTask,
        TIMITTask,
        PTBTask,
    )
}


def task_parameters(name: str) -> dict[str, Any]:
    """The parameters task ``name`` accepts, with their defaults."""
    task_info(name)  # a ValueError for an unknown name
    signature = inspect.signature(TASKS[name].__init__)
    return {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}


def get_task(name: str, **params: Any) -> Task:
    """Build task ``name`` from its keyword parameters, e.g. ``get_task("adding", length=50, seed=0)``.

    Raises:
        ValueError: unknown task name, unknown parameter or out-of-range value.
        FileNotFoundError: a file-backed task cannot find its data.
    """
    allowed = task_parameters(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for task {name!r}; allowed: {', '.join(allowed) or 'none'}"
        )
    return TASKS[name](**params)
