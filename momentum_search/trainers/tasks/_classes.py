"""The task classes by name, and validated construction from parameters."""

from __future__ import annotations

import inspect
from typing import Any

from ._base import Task
from ._code import build_code_task
from ._data import DataTask
from ._digits import DigitsTask, PermutedDigitsTask
from ._mnist import MNISTTask, PermutedMNISTTask
from ._mnist5k import MNIST5kTask, PermutedMNIST5kTask
from ._ptb import PTBTask
from ._registry import is_code_task, task_info
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
        DataTask,
    )
}


def task_parameters(name: str) -> dict[str, Any]:
    """The parameters task ``name`` accepts, with their defaults."""
    if name not in TASKS:
        task_info(name)  # a ValueError naming the known tasks
    signature = inspect.signature(TASKS[name].__init__)
    return {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}


def get_task(name: str, **params: Any) -> Task:
    """Build task ``name`` from its keyword parameters, e.g. ``get_task("adding", length=50, seed=0)``;
    ``name`` may be a code task (``module:function`` or an installed name, see ``_code.py``).

    Raises:
        ValueError: unknown task name, unknown parameter or out-of-range value.
        FileNotFoundError: a file-backed task cannot find its data.
    """
    if name not in TASKS and is_code_task(name):
        return build_code_task(name, params)
    allowed = task_parameters(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for task {name!r}; allowed: {', '.join(allowed) or 'none'}")
    return TASKS[name](**params)
