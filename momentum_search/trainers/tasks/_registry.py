"""The task registry: every task's name, output head, metric and trainer defaults, without torch.

Specs, search spaces and the read-only commands consult it; the task classes (`_classes.py`, torch)
take their head, metric and defaults from it, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

Split = Literal["train", "valid", "test"]
Head = Literal["classify_last", "classify_each", "regress_last", "regress_each", "language_model"]

SPLITS: tuple[Split, ...] = get_args(Split)


@dataclass(frozen=True)
class Metric:
    """The number a task reports on each split.

    Attributes:
        name: ``"accuracy"`` (percent, 0..100), ``"mse"``, ``"xent"`` (mean cross-entropy in nats)
            or ``"perplexity"`` (exp of the mean token cross-entropy).
        direction: whether a search should ``"maximize"`` or ``"minimize"`` it.
    """

    name: Literal["accuracy", "mse", "xent", "perplexity"]
    direction: Literal["maximize", "minimize"]


@dataclass(frozen=True)
class TaskDefaults:
    """Trainer settings for a task: the paper's where the paper gives them, else small and quick ones."""

    optimizer: Literal["rmsprop", "adam", "sgd"]
    lr: float
    batch_size: int
    epochs: int
    grad_clip: float  # 0.0 = no clipping
    hidden_size: int
    num_layers: int = 1
    init: Literal["paper", "pytorch"] = "paper"


@dataclass(frozen=True)
class TaskInfo:
    """One registered task: what a spec needs to know of it before any data is loaded."""

    name: str
    head: Head
    metric: Metric
    defaults: TaskDefaults


_ACCURACY = Metric("accuracy", "maximize")
_MSE = Metric("mse", "minimize")
# A paper-initialised LSTM reaches ~87 % validation accuracy (pdigits ~71 %) in about 10 s on one core.
_DIGITS = TaskDefaults(optimizer="adam", lr=1e-2, batch_size=32, epochs=30, grad_clip=1.0, hidden_size=64, init="paper")
_MNIST = TaskDefaults(optimizer="rmsprop", lr=1e-3, batch_size=128, epochs=150, grad_clip=1.0, hidden_size=128, init="paper")
_MNIST5K = replace(_MNIST, hidden_size=64, epochs=30)

TASK_INFO: dict[str, TaskInfo] = {
    info.name: info
    for info in (
        # A paper-initialised LSTM gets below the baseline within 3-4 epochs at delay 50 (0.280 vs 0.297 after 10).
        TaskInfo(
            "copy",
            "classify_each",
            Metric("xent", "minimize"),
            TaskDefaults(optimizer="adam", lr=1e-2, batch_size=64, epochs=10, grad_clip=1.0, hidden_size=64, init="paper"),
        ),
        # A paper-initialised LSTM leaves the 1/6 plateau after 7-8 epochs at length 50 and reaches ~0.003 by
        # epoch 10; lr 1e-2 stayed on the plateau for 5 epochs.
        TaskInfo(
            "adding",
            "regress_last",
            _MSE,
            TaskDefaults(optimizer="adam", lr=3e-3, batch_size=64, epochs=15, grad_clip=1.0, hidden_size=64, init="paper"),
        ),
        TaskInfo("digits", "classify_last", _ACCURACY, _DIGITS),
        TaskInfo("pdigits", "classify_last", _ACCURACY, _DIGITS),
        TaskInfo("mnist", "classify_last", _ACCURACY, _MNIST),
        TaskInfo("pmnist", "classify_last", _ACCURACY, _MNIST),
        # The paper's MNIST recipe on 3,500 training digits; hidden 64 and 30 epochs keep a training near
        # 10 minutes on one core (docs/mnist784.md has the measured times and curves).
        TaskInfo("smnist5k", "classify_last", _ACCURACY, _MNIST5K),
        TaskInfo("pmnist5k", "classify_last", _ACCURACY, _MNIST5K),
        TaskInfo(
            "timit",
            "regress_each",
            _MSE,
            TaskDefaults(optimizer="adam", lr=1e-4, batch_size=32, epochs=700, grad_clip=0.0, hidden_size=158, init="paper"),
        ),
        # PyTorch's word_language_model recipe; it was tuned with PyTorch's initialisation, as was AWD-LSTM.
        TaskInfo(
            "ptb",
            "language_model",
            Metric("perplexity", "minimize"),
            TaskDefaults(
                optimizer="sgd", lr=20.0, batch_size=20, epochs=40, grad_clip=0.25, hidden_size=200, num_layers=2, init="pytorch"
            ),
        ),
    )
}


# The user's own data (`_npz.py`): its head and metric come from the file, its trainer defaults are these.
DATA_TASK = "data"
DATA_DEFAULTS = TaskDefaults(optimizer="adam", lr=1e-2, batch_size=32, epochs=10, grad_clip=1.0, hidden_size=64)


# The task of a study whose objective function brings its own data and loop (`objective: "pkg.mod:train"`).
OBJECTIVE_TASK = "objective"

# Installed packages name their tasks in this entry-point group: `name = "pkg.mod:make_task"`.
ENTRY_POINT_GROUP = "momentum_search.tasks"


def code_tasks() -> dict[str, str]:
    """The tasks installed packages register (entry-point group ``momentum_search.tasks``): name →
    ``module:function``."""
    from importlib.metadata import entry_points

    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}


def is_code_task(name: str) -> bool:
    """Whether ``name`` is a code task: ``module:function``, or a name an installed package registers."""
    return ":" in name or (name not in (*TASK_INFO, DATA_TASK, OBJECTIVE_TASK) and name in code_tasks())


def task_defaults(name: str) -> TaskDefaults:
    """The trainer defaults of task ``name``: a registered task's; ``DATA_DEFAULTS`` for ``data``, for an
    objective function's trials and, until the task is built and says its own, for a code task. A ValueError lists the known tasks otherwise."""
    if name in (DATA_TASK, OBJECTIVE_TASK) or is_code_task(name):
        return DATA_DEFAULTS
    return task_info(name).defaults


def task_info(name: str, params: Mapping[str, Any] | None = None) -> TaskInfo:
    """The registered task called ``name``; a ValueError lists the known tasks otherwise.

    ``data`` is the user's own data: its ``params`` must be resolved (``_npz.resolve_params``: they name
    the head, metric and direction the file implies), as a study stores them.
    """
    if name == DATA_TASK:
        params = params or {}
        if not {"head", "metric", "direction"} <= set(params):
            raise ValueError(f"task {DATA_TASK}: its head, metric and direction are not resolved from the file yet")
        return TaskInfo(DATA_TASK, params["head"], Metric(params["metric"], params["direction"]), DATA_DEFAULTS)
    if name not in TASK_INFO:
        installed = "".join(f", {task}" for task in code_tasks())
        raise ValueError(
            f"unknown task {name!r}; known tasks: {', '.join(TASK_INFO)}{installed}, {DATA_TASK} (an .npz file) "
            f"or module:function (a code task)"
        )
    return TASK_INFO[name]
