"""The torch-free registries (cell kinds, tasks) agree with the torch modules that implement them.

Specs and the read-only commands validate against the registries alone; training uses the cells and
task classes. These tests keep the two from drifting apart.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from momentum_search.trainers import CELL_KINDS, TASK_INFO, TASKS, TrainConfig, build_cell, train
from momentum_search.trainers.tasks import DATA_TASK, task_defaults
from momentum_search.trainers.cells import INITS
from momentum_search.trainers.cells._kinds import HYPERPARAMETERS

VALID = {"mu": 0.5, "s": 0.7, "beta": 0.3, "eps": 1e-6, "restart": 3}
# A config may leave chrono's t_max to the trainer (the sequence length); a cell may not, so that pair is left out.
OPTIONS = [
    {"init": init, "t_max": t_max, "forget_bias": forget_bias}
    for init in INITS
    for t_max in (None, 10.0)
    for forget_bias in (None, -4.0)
    if not (init == "chrono" and t_max is None)
]


@pytest.mark.parametrize("name", list(CELL_KINDS))
def test_every_kind_builds_a_cell_with_exactly_its_registered_hyperparameters(name: str) -> None:
    kind = CELL_KINDS[name]
    assert build_cell(name, 1, 2).hyperparameters == dict(kind.defaults)
    assert tuple(kind.defaults) == kind.hyperparameters
    for hyperparameter in HYPERPARAMETERS:
        if hyperparameter in kind.hyperparameters:
            cell = build_cell(name, 1, 2, **{hyperparameter: VALID[hyperparameter]})
            assert cell.hyperparameters[hyperparameter] == VALID[hyperparameter]
        else:
            with pytest.raises(ValueError, match=f"does not use {hyperparameter}"):
                build_cell(name, 1, 2, **{hyperparameter: VALID[hyperparameter]})


def _error(make: Any) -> str | None:
    try:
        make()
    except ValidationError as error:
        return error.errors()[0]["msg"].removeprefix("Value error, ")
    except ValueError as error:
        return str(error)
    return None


@pytest.mark.parametrize("name", list(CELL_KINDS))
def test_a_config_refuses_exactly_what_building_its_cell_refuses(name: str) -> None:
    # TrainConfig checks the cell through the registry, without torch; the cell must agree, message for message.
    for options in OPTIONS:
        built = _error(lambda: build_cell(name, 1, 2, **options))
        configured = _error(lambda: TrainConfig(task="adding", cell=name, **options))
        assert configured == built, options


def test_the_task_registry_names_every_task_class_and_gives_it_its_head_metric_and_defaults() -> None:
    # The data task's head and metric come from its file; its defaults are DATA_DEFAULTS.
    assert list(TASKS) == [*TASK_INFO, DATA_TASK]
    assert TASKS[DATA_TASK].defaults == task_defaults(DATA_TASK)
    for name, info in TASK_INFO.items():
        task = TASKS[name]
        assert (task.name, task.head, task.metric, task.defaults) == (info.name, info.head, info.metric, info.defaults)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("copy", {"delay": 2, "n_train": 16, "n_valid": 8, "n_test": 8}),
        ("adding", {"length": 4, "n_train": 16, "n_valid": 8, "n_test": 8}),
        ("pdigits", {}),
    ],
)
def test_training_reports_the_registered_metric_and_direction(name: str, params: dict[str, Any]) -> None:
    result = train(TrainConfig(task=name, task_params=params, hidden_size=2, epochs=1, batch_size=512))
    metric = TASK_INFO[name].metric
    assert (result.metric, result.direction) == (metric.name, metric.direction)


def test_every_drive_answers_what_it_is_and_a_new_one_has_defaults() -> None:
    from types import MappingProxyType

    from momentum_search.trainers import CellKind
    from momentum_search.trainers.cells import DRIVES

    plain = {name for name, kind in CELL_KINDS.items() if kind.plain}
    assert plain == {kind.base for kind in CELL_KINDS.values()}  # the plain kind of each base is named after it
    assert all(kind.baseline == kind.plain for kind in CELL_KINDS.values())
    assert all(kind.drive is DRIVES[kind.variant] and kind.drive.color is not None for kind in CELL_KINDS.values())
    colors = [kind.color for kind in CELL_KINDS.values()]
    assert len(set(colors)) == len(colors)  # one colour per kind in every figure
    wavy = CellKind("wavy-gru", "gru", "wavy", ("s",), MappingProxyType({"s": 0.6}))  # type: ignore[arg-type]
    assert (wavy.plain, wavy.baseline, wavy.drive.uses) == (False, False, ("s",))
    assert wavy.color == "#4c4c4c"  # the default grey in the GRU's shade
