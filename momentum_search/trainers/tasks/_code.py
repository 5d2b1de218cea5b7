"""Code tasks: a function the user writes (`module:function`, or a name an installed package registers in
the entry-point group `momentum_search.tasks`) that builds the task from its parameters.

The protocol: `make_task(**params)` returns either a `Task` (the abstract class every built-in task
implements: `head`, `metric`, `defaults`, `input_size`, `output_size`, `batches`, `num_batches`; most
subclass `ExampleTask` and write `_split_size` and `_make_batch`; the built-in tasks are such Tasks), or a
mapping of the arrays an `.npz` data file holds (`x_train`, `y_train`, …), checked and served as that
file would be. A Task's `defaults` are the trainer settings a config leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from momentum_search.trainers._imports import load_function, one_line

from ._base import Task
from ._data import ArrayTask
from ._npz import check_arrays
from ._registry import code_tasks


def build_code_task(name: str, params: Mapping[str, Any]) -> Task:
    """Code task ``name`` built from ``params`` (the protocol is in the module docstring).

    Raises:
        ValueError: one line: the function cannot be imported, raises, or returns neither a `Task` nor
            a mapping of valid arrays (`DataError`).
    """
    function = load_function(name if ":" in name else code_tasks()[name], f"task {name}")
    try:
        made = function(**params)
    except Exception as error:  # the user's code: any error is reported, in one line
        raise ValueError(f"task {name}: {one_line(error)}") from None
    if isinstance(made, Task):
        return made
    if isinstance(made, Mapping):
        # Inferred as from a file; a task that wants another head or metric returns a Task.
        return ArrayTask(check_arrays(made, f"task {name}"), **params)
    raise ValueError(
        f"task {name}: returned a {type(made).__name__}; expected a Task or a mapping of arrays (x_train, y_train, ...)"
    )
