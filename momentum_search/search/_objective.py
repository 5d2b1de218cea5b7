"""What one trial trains: a sampled configuration on k seeds, summarised as one number and its spread.

Engine-neutral: the Optuna engine here and a Ray Tune engine both call :func:`evaluate` and store
:meth:`Evaluation.attrs`; neither the trainer nor this module knows which engine runs it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from momentum_search.search._gain import GAIN, drive_scale
from momentum_search.search._record import evaluation_attrs
from momentum_search.search._space import CELL_PARAMETER, DOMAINS, SearchSpace
from momentum_search.trainers import TrainConfig, TrainResult, UserObjective
from momentum_search.trainers.tasks import task_defaults

# TrainConfig fields a study may fix; the rest come from the study itself (task, cell, epochs,
# seeds) or from the worker running the trial (threads).
FIXABLE_FIELDS = (
    "mu",
    "s",
    GAIN,
    "beta",
    "eps",
    "restart",
    "hidden_size",
    "num_layers",
    "init",
    "t_max",
    "forget_bias",
    "dtriv_k",
    "lr_orth",
    "optimizer",
    "lr",
    "batch_size",
    "grad_clip",
    "device",
)
_CELL_ONLY = ("mu", "s", GAIN, "beta", "eps", "restart")
EpochCallback = Callable[[int, float], bool]
BatchCallback = Callable[[int, int], None]
# Called before each further seed with the values so far (seed → value); a reason stops the trial there.
SeedCallback = Callable[[dict[int, float]], "str | None"]


class TrialPlan(BaseModel):
    """Everything a trial trains apart from its sampled parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    task_params: dict[str, Any] = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)
    epochs: int | None = Field(default=None, ge=1)
    seeds: tuple[int, ...] = Field(default=(0,), min_length=1)
    threads: int | None = Field(default=None, ge=1)
    objective: UserObjective | None = None  # the user's own loop trains each seed (task "objective")

    @property
    def max_epochs(self) -> int:
        """The epochs of one trial's first seed: the plan's, else its task's default."""
        return self.epochs if self.epochs is not None else task_defaults(self.task).epochs

    def config(self, params: Mapping[str, Any], *, seed: int) -> TrainConfig:
        """The trainer config of sampled ``params`` (``cell`` included) on ``seed``.

        Fixed momentum hyperparameters reach only the kinds that use them: ``fixed: {eps: 1e-8}``
        with cells ``lstm`` and ``adam-lstm`` sets eps for ``adam-lstm`` alone. A gain ``g`` (searched
        or fixed) becomes the trainer's ``s = g(1−μ)``.

        Raises:
            ValueError: g is out of range, or given together with s.
        """
        cell = params[CELL_PARAMETER]
        values = {
            name: value
            for name, value in {**self.fixed, **params}.items()
            if name == CELL_PARAMETER or name not in _CELL_ONLY or SearchSpace.uses(cell, name)
        }
        if GAIN in values:
            g = values.pop(GAIN)
            if "s" in values:
                raise ValueError("give s or g (the gain s/(1−μ), which sets s), not both")
            if isinstance(g, bool) or not isinstance(g, int | float) or not DOMAINS[GAIN].contains(g):
                raise ValueError(f"g must be a real number with {DOMAINS[GAIN].describe(GAIN)}, got {g!r}")
            values["s"] = drive_scale(cell, g=g, mu=values.get("mu"))
        return TrainConfig(
            task=self.task,
            task_params=self.task_params,
            epochs=self.epochs,
            seed=seed,
            threads=self.threads,
            objective=self.objective,
            **values,
        )


@dataclass(frozen=True)
class Evaluation:
    """A configuration trained on every seed (or stopped early: pruned after the first, or diverged).

    ``value`` is the mean of the seeds' best validation metric and ``std`` its sample spread (0 for
    one seed); ``test_value`` the mean test metric at each seed's best validation epoch;
    ``train_time`` the mean wall time per seed, the optional second objective.
    """

    results: tuple[TrainResult, ...]
    seeds: tuple[int, ...]
    raced: str | None = None  # why the seed race stopped it before its last seed

    @property
    def diverged(self) -> bool:
        return any(result.diverged for result in self.results)

    @property
    def stopped(self) -> bool:
        return any(result.stopped for result in self.results)

    @property
    def value(self) -> float:
        return statistics.fmean(result.best_value for result in self.results)

    @property
    def std(self) -> float:
        values = [result.best_value for result in self.results]
        return statistics.stdev(values) if len(values) > 1 else 0.0

    @property
    def test_value(self) -> float:
        return statistics.fmean(result.test_value for result in self.results)

    @property
    def train_time(self) -> float:
        return statistics.fmean(result.wall_time for result in self.results)

    def reason(self) -> str | None:
        """Why the trial ended early, or None when every seed ran to the end."""
        for seed, result in zip(self.seeds, self.results, strict=False):
            if result.diverged:
                return f"diverged: seed {seed} at epoch {result.epochs_run + 1}"
            if result.stopped:
                return f"pruned: seed {seed} after epoch {result.epochs_run}"
        return None if self.raced is None else f"raced: {self.raced}"

    def attrs(self) -> dict[str, Any]:
        """What a trial records: see :func:`~momentum_search.search._record.evaluation_attrs`."""
        return evaluation_attrs(self)


def evaluate(
    plan: TrialPlan,
    params: Mapping[str, Any],
    *,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
    on_seed: SeedCallback | None = None,
) -> Evaluation:
    """Train ``params`` on the plan's seeds one after the other.

    Only the first seed's curve goes to ``on_epoch`` (a pruner compares trials on one seed, the same
    one for every trial); if it asks to stop, or any seed diverges, the remaining seeds are skipped.
    Before each further seed, ``on_seed`` gets the values so far and may stop the trial with a reason
    (the seed race, see :mod:`momentum_search.search._racing`).
    """
    from momentum_search.trainers import train  # torch: only where a trial trains

    results: list[TrainResult] = []
    for index, seed in enumerate(plan.seeds):
        if index > 0 and on_seed is not None:
            raced = on_seed({s: r.best_value for s, r in zip(plan.seeds, results, strict=False)})
            if raced is not None:
                return Evaluation(results=tuple(results), seeds=plan.seeds, raced=raced)
        result = train(
            plan.config(params, seed=seed),
            on_epoch=on_epoch if index == 0 else None,
            on_batch=on_batch,
        )
        results.append(result)
        if result.diverged or result.stopped:
            break
    return Evaluation(results=tuple(results), seeds=plan.seeds)
