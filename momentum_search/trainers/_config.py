"""The configuration of one training run, and its result. Imports no torch unless a device other than
the CPU is asked for: specs and the read-only commands build configs to validate them."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from momentum_search.trainers.cells import CELL_KINDS, HYPERPARAMETERS, Init
from momentum_search.trainers.tasks import DATA_TASK, OBJECTIVE_TASK, TaskDefaults, task_defaults

Optimizer = Literal["rmsprop", "adam", "sgd"]
MAX_EPOCHS = 100_000
MAX_SEED = 2**32 - 1  # numpy's generators take seeds below 2**32


def _not_a_bool(value: Any) -> Any:
    # pydantic's lax mode reads YAML's `true` as 1: where a number belongs, a boolean is a mistake.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


def check_device(device: str) -> None:
    """Raise ValueError unless this machine's torch can run on ``device`` (e.g. ``cuda`` on a CPU build)."""
    if device == "cpu":
        return
    import torch

    parsed = torch.device(device)
    if parsed.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: this torch ({torch.__version__}) sees no CUDA device; use cpu")
    if parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")


Integer = Annotated[int, BeforeValidator(_not_a_bool)]  # an int field that refuses booleans
Real = Annotated[float, BeforeValidator(_not_a_bool)]  # a float field that refuses booleans


def _function_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value):
        raise ValueError(f"expected package.module:function, got {value!r}")
    return value


FunctionName = Annotated[str, AfterValidator(_function_name)]  # `package.module:function`, the user's code


class UserObjective(BaseModel):
    """The user's own training loop, `function` (`package.module:function`, see `_user_loop.py`), and
    what its return value is: `metric` (a name for reports) to `direction`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    function: FunctionName
    metric: str = "value"
    direction: Literal["maximize", "minimize"] = "minimize"


class TrainConfig(BaseModel):
    """Everything that determines one training run; `None` means "the task's (or cell kind's) default".

    Same config, same result to the last digit on CPU (with the same number of threads).

    `t_max` is chrono's time scale (`init="chrono"`, LSTM, GRU and JANET kinds only); left `None`, the trainer
    takes the number of steps of the first training batch: the sequence length of fixed-length tasks,
    `bptt` for ptb, the longest utterance of the first batch for timit. `forget_bias` is the LSTM's
    forget-gate bias under `init="paper"` or `"identity"` (`None`: 1.0; the authors' TIMIT runs use -4).

    exprnn kinds only, the authors' DTRIV options: `dtriv_k` re-bases the orthogonal `U = B exp(A)`
    every K optimiser steps (`None`: never, K = ∞; 1: after every step), and `lr_orth` gives the skew
    parameters `A` their own learning rate (`None`: `lr`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str = "digits"
    task_params: dict[str, Any] = Field(default_factory=dict)
    cell: str = "lstm"
    mu: Real | None = None
    s: Real | None = None
    beta: Real | None = None
    eps: Real | None = None
    restart: Integer | None = None
    hidden_size: Integer | None = Field(default=None, ge=1)
    num_layers: Integer | None = Field(default=None, ge=1)
    init: Init | None = None
    t_max: Real | None = Field(default=None, ge=2)
    forget_bias: Real | None = None
    dtriv_k: Integer | None = Field(default=None, ge=1)
    lr_orth: Real | None = Field(default=None, gt=0)
    optimizer: Optimizer | None = None
    lr: Real | None = Field(default=None, gt=0)
    batch_size: Integer | None = Field(default=None, ge=1)
    epochs: Integer | None = Field(default=None, ge=1, le=MAX_EPOCHS)
    grad_clip: Real | None = Field(default=None, ge=0)
    seed: Integer = Field(default=0, ge=0, le=MAX_SEED)
    threads: Integer | None = Field(default=None, ge=1)
    device: str = "cpu"
    objective: UserObjective | None = None  # with task "objective": the user's loop trains instead

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        task_defaults(value)  # a ValueError naming the known tasks
        return value

    @field_validator("cell")
    @classmethod
    def _known_cell(cls, value: str) -> str:
        if value not in CELL_KINDS:
            raise ValueError(f"unknown cell kind {value!r}; known kinds: {', '.join(CELL_KINDS)}")
        return value

    @field_validator("device")
    @classmethod
    def _parsable_device(cls, value: str) -> str:
        if value == "cpu":  # the default, known without importing torch
            return value
        import torch

        try:
            torch.device(value)
        except RuntimeError:
            raise ValueError(f"unknown device {value!r}; expected e.g. 'cpu', 'cuda' or 'cuda:1'") from None
        return value

    @model_validator(mode="after")
    def _hyperparameters_fit_the_cell(self) -> TrainConfig:
        kind = CELL_KINDS[self.cell]
        # The kind's own checks, the ones building the cell runs: its init's rules (chrono's, cayley's,
        # forget_bias's) with the init that will run, then the ranges and the "kind does not use it" rule.
        # A chrono t_max left to the trainer is checked with a stand-in.
        if (self.task == OBJECTIVE_TASK) != (self.objective is not None):
            raise ValueError(f"objective (a function) and task {OBJECTIVE_TASK!r} go together; got task {self.task!r}")
        if self.task == DATA_TASK and not isinstance(self.task_params.get("path"), str):
            raise ValueError(f"task {DATA_TASK} needs task_params.path, the .npz file (train --data PATH)")
        init = self.init if self.init is not None else task_defaults(self.task).init
        t_max = 2.0 if init == "chrono" and self.t_max is None else self.t_max
        kind.check_init(init, t_max=t_max, forget_bias=self.forget_bias)
        kind.resolve(self.hyperparameters(only_set=True))
        for name in ("dtriv_k", "lr_orth"):
            if getattr(self, name) is not None and kind.base != "exprnn":
                raise ValueError(f"{name} acts on the orthogonal U of exprnn kinds; {kind.name!r} has none")
        return self

    def hyperparameters(self, *, only_set: bool = False) -> dict[str, Any]:
        """The momentum hyperparameters (μ, s, β, ε, F) the cell kind uses, as keyword arguments of
        ``build_cell`` and ``Trainer.set_hyperparameters``."""
        used = CELL_KINDS[self.cell].hyperparameters
        values = {name: getattr(self, name) for name in HYPERPARAMETERS}
        if only_set:
            return {name: value for name, value in values.items() if value is not None}
        return {name: values[name] for name in used}

    def resolved(self, defaults: TaskDefaults | None = None) -> TrainConfig:
        """A copy with every `None` replaced by the task's (`defaults`, else its registered ones) or the
        cell kind's default. A code task says its defaults once built: the trainer passes them."""
        defaults = defaults if defaults is not None else task_defaults(self.task)
        kind = CELL_KINDS[self.cell]
        update: dict[str, Any] = {name: kind.defaults[name] for name in kind.hyperparameters if getattr(self, name) is None}
        for name in ("hidden_size", "num_layers", "init", "optimizer", "lr", "batch_size", "epochs", "grad_clip"):
            if getattr(self, name) is None:
                update[name] = getattr(defaults, name)
        return self.model_copy(update=update)


@dataclass(frozen=True)
class TrainResult:
    """What one training run gives back.

    `best_value` is the best validation metric over epochs, and `test_value` the test metric of the
    model *at that epoch* (the test split never selects anything). A run whose loss became NaN or
    infinite ends with `diverged=True`; one stopped by the `on_epoch` callback with `stopped=True`.
    `learned` holds a learnable kind's trained `{"mu": [per layer], "s": [per layer]}`, taken from the
    same model as `test_value` (the current one if no epoch finished); it is `{}` for other kinds.
    `gradient_flow` holds ‖∂L/∂h_t‖ on the first validation batch at initialisation (`"init"`) and of
    the best validation epoch's model (`"trained"`, once an epoch finished), each with its loss L.
    """

    best_value: float
    best_epoch: int
    test_value: float
    epochs_run: int
    wall_time: float
    diverged: bool
    stopped: bool
    history: tuple[float, ...]
    metric: str
    direction: str
    config: TrainConfig
    learned: dict[str, list[float]] = field(default_factory=dict)
    gradient_flow: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["config"] = self.config.model_dump()
        # JSON has no NaN: a diverged run without a finished epoch reports nulls.
        for key in ("best_value", "test_value"):
            if not math.isfinite(data[key]):
                data[key] = None
        data["history"] = [v if math.isfinite(v) else None for v in self.history]
        return data
