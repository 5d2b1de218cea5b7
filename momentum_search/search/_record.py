"""One stored trial, typed: what the engines write, what every view reads back, and the one rule each
for ranking, the best trial, twins and the Pareto front.

A finished trial is stored as Optuna user attrs (JSON values under the keys below). The engines build
them with :func:`evaluation_attrs`, :func:`finished_attrs` and :func:`twin_attrs`; ``studies show``,
``export``, the figures, the dashboard note, confirmation and ablations read them back as
:class:`TrialRecord` (:meth:`TrialRecord.of`), and rank them with :func:`ranked`, :func:`best`,
:func:`best_trials` and :func:`pareto_front`. Those rank a :class:`Standing` alike: the few fields
ranking reads, which a large study's every trial can afford (``studies show`` and ``export`` choose
the trials they print from them, then read only those as records).

**Twins.** A trial that found an earlier COMPLETE trial with exactly its parameters copies that
trial's result instead of training (attr ``reused_from``). It is the same configuration with the same
numbers, so every view leaves it out of rankings, bests, fronts and exports: counted once, not twice.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

import momentum_search
from momentum_search.search._gain import gain
from momentum_search.search._space import CELL_PARAMETER
from momentum_search.store import REASON_ATTR  # why a trial was pruned or failed; None when it completed

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from momentum_search.trainers import TrainResult

REUSED_FROM_ATTR = "reused_from"  # a twin: the number of the COMPLETE trial whose result it copied
WORKER_ATTR = "worker"  # host:pid of the process that ran the trial
ENGINE_ATTR = "engine"  # "ray" on trials the Ray engine ran
SOURCE_ATTR = "source"  # on a confirmation trial: the search trial it retrains
# Set when a trial is queued: the seeds it trains instead of its plan's (confirmation queues a configuration's
# held-out seeds one trial each, so that every worker can take one).
TRIAL_SEEDS_ATTR = "trial_seeds"
RACED = "raced:"  # how the reason of a trial that lost the seed race starts
# The attrs that summarise a trial in a line (``studies show``, the rankings): small scalars and lists.
SUMMARY_ATTRS = (REASON_ATTR, REUSED_FROM_ATTR, "seeds", "value_mean", "value_std", "test_value", "epochs_run", "wall_time")
# What ranking and choosing read of a trial besides its state and values (see Standing): the cell kind,
# μ (confirmation's best μ = 0 and μ > 0), whether it is a twin or lost the seed race and its mean then.
STANDING_PARAMS = (CELL_PARAMETER, "mu")
STANDING_ATTRS = (REASON_ATTR, REUSED_FROM_ATTR, "value_mean")


# ---- writing ------------------------------------------------------------------------------------


class Trained(Protocol):
    """What the record reads of a configuration trained on its seeds (``_objective.Evaluation`` is one)."""

    @property
    def results(self) -> tuple[TrainResult, ...]: ...

    @property
    def seeds(self) -> tuple[int, ...]: ...

    @property
    def diverged(self) -> bool: ...

    @property
    def value(self) -> float: ...

    @property
    def std(self) -> float: ...

    @property
    def test_value(self) -> float: ...

    @property
    def train_time(self) -> float: ...


def evaluation_attrs(evaluation: Trained) -> dict[str, Any]:
    """What a trained configuration records, JSON-ready (NaN becomes None); ``gain`` is the config's
    s/(1−μ) (None for a kind without s), whichever of s and g the study searched."""
    first = evaluation.results[0]
    config = first.config
    return {
        "config": config.model_dump(mode="json"),
        "gain": gain(config.cell, s=config.s, mu=config.mu),
        "seeds": list(evaluation.seeds[: len(evaluation.results)]),
        "seed_values": [_finite(r.best_value) for r in evaluation.results],
        "seed_test_values": [_finite(r.test_value) for r in evaluation.results],
        "seed_best_epochs": [r.best_epoch for r in evaluation.results],
        "seed_histories": [[_finite(v) for v in r.history] for r in evaluation.results],
        "seed_learned": [r.learned for r in evaluation.results],
        "seed_wall_times": [r.wall_time for r in evaluation.results],
        # The first seed's, at initialisation and of its best epoch's model: the loss reaching back in time.
        "gradient_flow": first.gradient_flow,
        "value_mean": _finite(evaluation.value),
        "value_std": _finite(evaluation.std),
        "test_value": _finite(evaluation.test_value),
        "metric": first.metric,
        "epochs_run": sum(r.epochs_run for r in evaluation.results),
        "wall_time": sum(r.wall_time for r in evaluation.results),
        "train_time": evaluation.train_time,
        "diverged": evaluation.diverged,
        "version": momentum_search.__version__,
    }


# What evaluation_attrs records per seed, and what it records of the first seed alone.
_PER_SEED_ATTRS = (
    "seeds",
    "seed_values",
    "seed_test_values",
    "seed_best_epochs",
    "seed_histories",
    "seed_learned",
    "seed_wall_times",
)
_FIRST_SEED_ATTRS = ("config", "gain", "gradient_flow", "metric", "version")


def merged_attrs(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What :func:`evaluation_attrs` records for one configuration trained on the seeds of ``parts``, each
    the attrs of some of those seeds (in seed order): the same as had one trial trained them all."""
    merged: dict[str, Any] = {key: parts[0][key] for key in _FIRST_SEED_ATTRS}
    for key in _PER_SEED_ATTRS:
        merged[key] = [value for part in parts for value in part[key]]
    values, tests, times = merged["seed_values"], merged["seed_test_values"], merged["seed_wall_times"]
    finite = None not in values  # evaluation_attrs stores a NaN as None
    return {
        **merged,
        "value_mean": statistics.fmean(values) if finite else None,
        "value_std": (statistics.stdev(values) if len(values) > 1 else 0.0) if finite else None,
        "test_value": statistics.fmean(tests) if None not in tests else None,
        "epochs_run": sum(part["epochs_run"] for part in parts),
        "wall_time": sum(times),
        "train_time": statistics.fmean(times),
        "diverged": any(part["diverged"] for part in parts),
    }


def finished_attrs(result: Mapping[str, Any], *, reason: str | None, worker: str, engine: str | None = None) -> dict[str, Any]:
    """A finished trial's attrs: ``result`` (:func:`evaluation_attrs`), why it ended early (None when
    it ran every seed to the end), the engine when not Optuna's, and the process that ran it."""
    return {**result, REASON_ATTR: reason, **({ENGINE_ATTR: engine} if engine else {}), WORKER_ATTR: worker}


def twin_attrs(twin: FrozenTrial, *, worker: str, engine: str | None = None) -> dict[str, Any]:
    """The attrs of a trial that copies COMPLETE ``twin``'s result (same parameters, plan and seeds)."""
    return {**twin.user_attrs, REUSED_FROM_ATTR: twin.number, **({ENGINE_ATTR: engine} if engine else {}), WORKER_ATTR: worker}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# ---- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialRecord:
    """One stored trial as every view reads it. A field whose attr was not read (or not written: a
    failed trial, one stored before the attr existed) is empty: None, () or {}."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING or WAITING
    cell: str | None
    params: dict[str, Any]  # the searched parameters without the cell kind
    values: tuple[float, ...] | None  # the objective values of a COMPLETE trial: the metric (and train_time)
    value: float | None  # the metric, mean over seeds, of a COMPLETE trial or one that lost the seed race
    value_std: float | None  # as stored: the seeds' sample standard deviation (0 for one seed)
    seeds: tuple[int, ...]
    seed_values: tuple[float, ...]  # finite ones; a value alone when none was stored
    seed_test_values: tuple[float, ...]
    seed_histories: tuple[tuple[float | None, ...], ...]  # each seed's validation metric per epoch
    seed_learned: tuple[dict[str, Any], ...]  # a learnable kind's trained μ, s per seed
    seed_wall_times: tuple[float, ...]
    test_value: float | None
    train_time: float | None  # mean training time per seed [s]
    epochs_run: int | None
    wall_time: float | None
    curve: tuple[tuple[int, float], ...]  # (epoch, validation metric) of the first seed
    reason: str | None
    config: dict[str, Any] | None  # the resolved trainer config of the first seed
    reused_from: int | None = None  # a twin: the trial whose result it copied
    raced: bool = False  # PRUNED by the seed race: ``value`` is its mean over fewer seeds than a COMPLETE trial's
    gradient_flow: dict[str, Any] | None = None  # the first seed's, see ``TrainResult.gradient_flow``
    gain: float | None = None
    source: int | None = None  # a confirmation trial's search trial
    metric: str | None = None
    version: str | None = None
    worker: str | None = None
    engine: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)  # every attr read, as stored

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRecord:
        """The record of a stored trial (all its attrs, or those that were read)."""
        attrs = trial.user_attrs
        state = trial.state.name
        complete = state == "COMPLETE" and trial.values is not None
        value, raced = _ranking_value(state, trial.values, attrs)
        seed_values = tuple(v for v in attrs.get("seed_values") or () if v is not None and math.isfinite(v))
        if not seed_values and value is not None:
            seed_values = (value,)
        train_time = trial.values[1] if complete and len(trial.values) > 1 else attrs.get("train_time")
        if trial.intermediate_values:
            steps = sorted(trial.intermediate_values.items())
        else:
            # Multi-objective trials cannot report intermediate values; the first seed's history is the same curve.
            histories = attrs.get("seed_histories") or [[]]
            steps = list(enumerate(histories[0], start=1))
        return cls(
            number=trial.number,
            state=state,
            cell=trial.params.get(CELL_PARAMETER),
            params={k: v for k, v in trial.params.items() if k != CELL_PARAMETER},
            values=tuple(trial.values) if trial.values is not None else None,
            value=value,
            value_std=attrs.get("value_std"),
            seeds=tuple(attrs.get("seeds") or ()),
            seed_values=seed_values,
            seed_test_values=tuple(v for v in attrs.get("seed_test_values") or () if v is not None),
            seed_histories=tuple(tuple(history) for history in attrs.get("seed_histories") or ()),
            seed_learned=tuple(attrs.get("seed_learned") or ()),
            seed_wall_times=tuple(attrs.get("seed_wall_times") or ()),
            test_value=attrs.get("test_value"),
            train_time=train_time,
            epochs_run=attrs.get("epochs_run"),
            wall_time=attrs.get("wall_time"),
            curve=tuple((int(step), float(v)) for step, v in steps if v is not None and math.isfinite(v)),
            reason=attrs.get(REASON_ATTR),
            config=attrs.get("config"),
            reused_from=attrs.get(REUSED_FROM_ATTR),
            raced=raced,
            gradient_flow=attrs.get("gradient_flow"),
            gain=attrs.get("gain"),
            source=attrs.get(SOURCE_ATTR),
            metric=attrs.get("metric"),
            version=attrs.get("version"),
            worker=attrs.get(WORKER_ATTR),
            engine=attrs.get(ENGINE_ATTR),
            attrs=attrs,
        )

    @property
    def point(self) -> dict[str, Any]:
        """The parameters as the study searched them: the cell kind first, then the rest."""
        return self.params if self.cell is None else {CELL_PARAMETER: self.cell, **self.params}

    @functools.cached_property
    def std(self) -> float:
        """The sample standard deviation of the seeds' values; 0 for one seed."""
        return statistics.stdev(self.seed_values) if len(self.seed_values) > 1 else 0.0

    @property
    def twin(self) -> bool:
        return self.reused_from is not None

    @property
    def complete(self) -> bool:
        return self.state == "COMPLETE" and self.values is not None

    @property
    def scored(self) -> float:
        """``value``, of a record known to have one (the figures draw finished trials only)."""
        if self.value is None:
            raise ValueError(f"trial {self.number} has no value")
        return self.value


def _ranking_value(state: str, values: Sequence[float] | None, attrs: Mapping[str, Any]) -> tuple[float | None, bool]:
    """The value a trial ranks by (None: it does not rank) and whether it lost the seed race: a
    COMPLETE trial's first objective, a raced trial's mean over the seeds it ran; never a non-finite one."""
    raced = state == "PRUNED" and str(attrs.get(REASON_ATTR) or "").startswith(RACED)
    value = values[0] if state == "COMPLETE" and values is not None else attrs.get("value_mean") if raced else None
    return (value if value is None or math.isfinite(value) else None), raced


class Standing(NamedTuple):
    """A trial as ranking and choosing read it, and no more: the fields of :class:`TrialRecord` that
    :func:`ranked`, :func:`best_trials` and confirmation's candidates use, each the same as there.
    ``params`` holds only the ``STANDING_PARAMS`` other than the cell kind."""

    number: int
    state: str
    cell: str | None
    params: dict[str, Any]
    values: tuple[float, ...] | None
    value: float | None
    raced: bool
    reused_from: int | None

    @classmethod
    def of(
        cls, number: int, state: str, values: tuple[float, ...] | None, params: Mapping[str, Any], attrs: Mapping[str, Any]
    ) -> Standing:
        """The standing of a trial from its state's name, values, ``STANDING_PARAMS`` and ``STANDING_ATTRS``."""
        value, raced = _ranking_value(state, values, attrs)
        rest = {k: v for k, v in params.items() if k != CELL_PARAMETER}
        return cls(number, state, params.get(CELL_PARAMETER), rest, values, value, raced, attrs.get(REUSED_FROM_ATTR))

    @property
    def twin(self) -> bool:
        return self.reused_from is not None

    @property
    def complete(self) -> bool:
        return self.state == "COMPLETE" and self.values is not None


class Ranks(Protocol):
    """What the rules below read of a trial: a :class:`TrialRecord` or a :class:`Standing` has it."""

    @property
    def number(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def cell(self) -> str | None: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def values(self) -> tuple[float, ...] | None: ...
    @property
    def value(self) -> float | None: ...
    @property
    def raced(self) -> bool: ...
    @property
    def twin(self) -> bool: ...
    @property
    def complete(self) -> bool: ...


_R = TypeVar("_R", bound=Ranks)


# ---- ranking ------------------------------------------------------------------------------------


def better(a: float, b: float, direction: str) -> bool:
    """Whether value ``a`` beats ``b`` in ``direction`` ("maximize" or "minimize")."""
    return a < b if direction == "minimize" else a > b


def ranked(records: Iterable[_R], direction: str) -> list[_R]:
    """The records with a value, twins left out, best first; the earlier trial first on a tie."""
    sign = 1.0 if direction == "minimize" else -1.0
    return sorted((r for r in records if r.value is not None and not r.twin), key=lambda r: (sign * r.value, r.number))  # type: ignore[operator]


def best(records: Iterable[_R], direction: str) -> _R | None:
    """The record with the best value in ``direction``, the earliest on a tie; None if none has a value."""
    order = ranked(records, direction)
    return order[0] if order else None


def best_trials(records: Iterable[_R], directions: Sequence[str]) -> list[_R]:
    """What Optuna's ``study.best_trials`` gives, twins left out, by number: the COMPLETE trials with
    the best value (ties included) for one objective, the Pareto front for more."""
    complete = [r for r in records if r.complete and not r.twin]
    if len(directions) > 1:
        return pareto_front(complete, directions)
    top = best(complete, directions[0])
    return [] if top is None else sorted((r for r in complete if r.value == top.value), key=lambda r: r.number)


def searched_per_kind(records: Iterable[Ranks]) -> dict[str, int]:
    """How many configurations of each cell kind the search trained: finished trials (COMPLETE or
    PRUNED), twins left out. What a kind's best was chosen from, and so how optimistic its search
    value is."""
    found: dict[str, int] = {}
    for r in records:
        if r.state in ("COMPLETE", "PRUNED") and not r.twin and r.cell is not None:
            found[r.cell] = found.get(r.cell, 0) + 1
    return found


def pareto_front(records: Iterable[_R], directions: Sequence[str]) -> list[_R]:
    """The COMPLETE trials (twins left out) no other trial dominates on every objective, by number.

    Dominance is transitive, so in lexicographic order a trial need only be checked against the front
    found so far: O(trials × front) instead of O(trials²).
    """
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    points = [
        (tuple(s * v for s, v in zip(signs, r.values, strict=True)), r)  # type: ignore[arg-type]
        for r in records
        if r.complete and not r.twin
    ]
    points.sort(key=lambda item: (item[0], item[1].number))
    front: list[tuple[tuple[float, ...], _R]] = []
    for point, record in points:
        if not any(_dominates(other, point) for other, _ in front):
            front.append((point, record))
    return sorted((record for _, record in front), key=lambda r: r.number)


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b
