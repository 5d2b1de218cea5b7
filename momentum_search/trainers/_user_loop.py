"""The user's own training loop as a trial: `objective: "pkg.mod:train"`.

The function receives a `TrialConfig` (the cell kind and its hyperparameters, the seed, the resolved
trainer settings, a ready cell factory and `report`) and returns the metric. Everything around it stays
the service's; this module turns one call into the `TrainResult` a trainer run gives.
"""

from __future__ import annotations

import math
import numbers
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from momentum_search.trainers._config import TrainConfig, TrainResult
from momentum_search.trainers._imports import load_function, one_line
from momentum_search.trainers._memory import keep_freed_memory

if TYPE_CHECKING:
    from momentum_search.trainers.cells import MomentumRNN

EpochCallback = Callable[[int, float], bool]


class TrialPruned(Exception):
    """Raised by `TrialConfig.report` when the pruner stops the trial; let it propagate (after any
    clean-up): the trial then ends as pruned, with the values reported so far."""


class ObjectiveError(Exception):
    """The objective function raised, or returned something other than a number: the trial fails with
    this message as its reason, and the study goes on."""


@dataclass(frozen=True)
class TrialConfig:
    """What an objective function receives.

    Attributes:
        kind: the cell kind, e.g. ``"momentum-lstm"``.
        hyperparameters: the kind's momentum hyperparameters (``mu``, ``s``, …; ``{}`` for a plain kind).
        seed: the seed of this run; torch's, numpy's and ``random``'s generators are seeded with it.
        config: every trainer setting, resolved: ``hidden_size``, ``num_layers``, ``lr``, ``batch_size``,
            ``epochs``, ``optimizer``, ``grad_clip``, ``init``, ``device`` (a searched ``lr`` arrives here).
        report: ``report(epoch, value)`` after each epoch (epochs count from 1); raises `TrialPruned` when
            the pruner stops the trial.
    """

    kind: str
    hyperparameters: dict[str, float | int]
    seed: int
    config: TrainConfig
    report: Callable[[int, float], None] = field(repr=False)

    def cell(
        self,
        input_size: int,
        hidden_size: int | None = None,
        num_layers: int | None = None,
        *,
        batch_first: bool = False,
        dropout: float = 0.0,
    ) -> MomentumRNN:
        """A `MomentumRNN` of the trial's kind, hyperparameters and initialisation; its size is the
        config's unless given."""
        from momentum_search.trainers.cells import MomentumRNN

        config = self.config
        return MomentumRNN(
            self.kind,
            input_size,
            hidden_size or config.hidden_size or 1,
            num_layers or config.num_layers or 1,
            batch_first=batch_first,
            dropout=dropout,
            init=config.init or "paper",
            t_max=config.t_max,
            forget_bias=config.forget_bias,
            device=config.device,
            **cast(dict[str, Any], self.hyperparameters),
        )


def run_objective(config: TrainConfig, *, on_epoch: EpochCallback | None = None) -> TrainResult:
    """Call `config.objective`'s function once, on `config.seed`.

    Raises:
        ValueError: the function cannot be imported (one line).
        ObjectiveError: it raised (other than `TrialPruned`), or returned something other than a real number.
    """
    import numpy as np
    import torch

    objective = config.objective
    assert objective is not None
    name = objective.function
    function = load_function(name, f"objective {name}")
    config = config.resolved()
    keep_freed_memory()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    for seed in (torch.manual_seed, np.random.seed, random.seed):
        seed(config.seed)
    history: list[float] = []

    def report(epoch: int, value: float) -> None:
        history.append(float(value))
        if on_epoch is not None and on_epoch(epoch, float(value)):
            raise TrialPruned(f"pruned after epoch {epoch}")

    trial = TrialConfig(config.cell, config.hyperparameters(), config.seed, config, report)
    start = time.perf_counter()
    try:
        value = function(trial)
    except TrialPruned:
        return loop_result(config, history, wall_time=time.perf_counter() - start)
    except Exception as error:  # the user's code: the trial fails with the reason, the study goes on
        raise ObjectiveError(f"objective {name} raised {one_line(error)}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObjectiveError(f"objective {name} returned {value!r}, not a number")
    return loop_result(config, history, wall_time=time.perf_counter() - start, value=float(value))


def loop_result(config: TrainConfig, history: Sequence[float], *, wall_time: float, value: float | None = None) -> TrainResult:
    """The `TrainResult` of an own loop that returned ``value`` after reporting ``history``; with no
    ``value``, of one stopped after its reports so far (its value: the best of them)."""
    objective = config.objective
    assert objective is not None
    stopped = value is None
    if value is None:
        finite = [v for v in history if math.isfinite(v)]
        value = (max if objective.direction == "maximize" else min)(finite) if finite else math.nan
    return TrainResult(
        best_value=value,
        best_epoch=len(history) or 1,
        test_value=math.nan,
        epochs_run=len(history) or 1,
        wall_time=wall_time,
        diverged=not math.isfinite(value),
        stopped=stopped,
        history=tuple(history) or (value,),
        metric=objective.metric,
        direction=objective.direction,
        config=config,
    )
