"""A study's trials as the figures read them: one record per trial, seeds summarised, NaN dropped.

Everything here reads what the search engine stored (``Evaluation.attrs()`` per trial); nothing is
recomputed by training.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from momentum_search.search import CELL_PARAMETER, GAIN, REASON_ATTR, gain
from momentum_search.trainers import CELL_KINDS

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

# The parameters in the order the figures list them (the momentum ones, then the shared trainer ones).
LABELS = {"mu": "μ", "s": "s", GAIN: "g", "beta": "β", "eps": "ε", "restart": "F", "lr": "lr", "hidden_size": "hidden size"}
# How the figures draw the drive scale: as s, which the trainer runs, or as the gain g = s/(1−μ).
Axes = Literal["s", "gain"]
AXES: dict[str, str] = {"s": "s", "gain": GAIN}  # each choice's parameter


class FigureUnavailableError(ValueError):
    """The study holds too little (or the wrong kind of) data for a figure; the message says why."""


class TrialRecord(NamedTuple):
    """One trial: its cell kind, parameters, objective (mean over seeds) and per-seed spread."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING or WAITING
    cell: str | None
    params: dict[str, Any]  # without the cell kind
    value: float | None  # the metric, mean over seeds, of a COMPLETE trial (or one that lost the seed race)
    std: float  # sample standard deviation of the seeds' values; 0 for one seed
    seed_values: tuple[float, ...]
    test_value: float | None
    train_time: float | None  # mean training time per seed [s]
    curve: tuple[tuple[int, float], ...]  # (epoch, validation metric) of the first seed
    reason: str | None
    config: dict[str, Any] | None  # the resolved trainer config of the first seed
    reused_from: int | None = None  # the trial whose result this one copied (same parameters)
    raced: bool = False  # PRUNED by the seed race: ``value`` is its mean over fewer seeds than a COMPLETE trial's


class StudyTrials(NamedTuple):
    """A study's trials with what the figures need to know about the study itself."""

    name: str
    metric: str
    direction: str  # of the metric: "maximize" or "minimize"
    objectives: int  # 1, or 2 with train_time
    cells: tuple[str, ...]  # in the study's order
    distributions: dict[str, BaseDistribution]  # every parameter seen, cell included
    trials: list[TrialRecord]
    frozen: list[FrozenTrial]  # as stored, for optuna.importance
    axis: str = "s"  # the drive scale in the records' params: "s", or GAIN for the gain s/(1−μ)

    def complete(self, cell: str | None = None) -> list[TrialRecord]:
        """The COMPLETE trials (of ``cell``, if given), each configuration once: a trial that copied
        an earlier one's result is left out, or it would count the same runs twice."""
        return [t for t in self.finished(cell) if not t.raced]

    def finished(self, cell: str | None = None) -> list[TrialRecord]:
        """:meth:`complete` and the trials that lost the seed race, each with the value of the seeds it
        ran: what the maps and slices draw, every point with its seed count."""
        return [t for t in self.trials
                if t.value is not None and t.reused_from is None and (cell is None or t.cell == cell)]  # fmt: skip

    def best(self, records: Iterable[TrialRecord]) -> TrialRecord | None:
        """The record with the best value in the study's direction; the earliest one on a tie."""
        records = [r for r in records if r.value is not None]
        if not records:
            return None
        sign = 1.0 if self.direction == "minimize" else -1.0
        return min(records, key=lambda r: (sign * r.value, r.number))  # type: ignore[operator]

    def better(self, a: float, b: float) -> bool:
        return a < b if self.direction == "minimize" else a > b

    def on_axis(self, axes: Axes) -> StudyTrials:
        """The trials with the drive scale drawn as ``axes``: ``"s"``, or ``"gain"`` for g = s/(1−μ).

        Each trial's value on the other axis comes from its stored config (a trial without one loses
        the parameter). A converted axis is a range over the trials' values, on a log scale when the
        searched one was; on a grid it is no longer a grid axis: g = s/(1−μ) differs along μ.

        Raises:
            ValueError: ``axes`` is neither "s" nor "gain".
        """
        from optuna.distributions import FloatDistribution

        if axes not in AXES:
            raise ValueError(f"axes must be one of {', '.join(AXES)}; got {axes!r}")
        axis = AXES[axes]
        if axis == self.axis:
            return self
        records = [_on_axis(record, self.axis, axis) for record in self.trials]
        values = [float(r.params[axis]) for r in records if axis in r.params]
        distributions = {name: d for name, d in self.distributions.items() if name != self.axis}
        if values:
            distributions[axis] = FloatDistribution(min(values), max(values), log=log_scale(self.distributions.get(self.axis)))
        return self._replace(trials=records, distributions=distributions, axis=axis)


def read_trials(study: optuna.Study) -> StudyTrials:
    """Read every trial of ``study`` once, for all the figures."""
    from optuna.distributions import CategoricalDistribution

    from momentum_search.studies._lifecycle import stored_trials

    frozen = stored_trials(study)
    distributions: dict[str, BaseDistribution] = {}
    for trial in frozen:
        distributions.update(trial.distributions)
    cell_distribution = distributions.get(CELL_PARAMETER)
    if isinstance(cell_distribution, CategoricalDistribution):
        cells = tuple(str(c) for c in cell_distribution.choices)
    else:
        cells = tuple(dict.fromkeys(str(t.params[CELL_PARAMETER]) for t in frozen if CELL_PARAMETER in t.params))
    names = study.metric_names
    return StudyTrials(
        name=study.study_name,
        metric=names[0] if names else "objective",
        direction=study.directions[0].name.lower(),
        objectives=len(study.directions),
        cells=cells,
        distributions=distributions,
        trials=[_record(trial) for trial in frozen],
        frozen=frozen,
        axis=GAIN if GAIN in distributions else "s",
    )


def _record(trial: FrozenTrial) -> TrialRecord:
    attrs = trial.user_attrs
    complete = trial.state.name == "COMPLETE" and trial.values is not None
    raced = trial.state.name == "PRUNED" and str(attrs.get(REASON_ATTR) or "").startswith("raced:")
    value = trial.values[0] if complete else attrs.get("value_mean") if raced else None  # type: ignore[index]
    seed_values = tuple(v for v in attrs.get("seed_values") or () if v is not None and math.isfinite(v))
    if not seed_values and value is not None:
        seed_values = (value,)
    train_time = trial.values[1] if complete and len(trial.values) > 1 else attrs.get("train_time")  # type: ignore[arg-type]
    if trial.intermediate_values:
        steps = sorted(trial.intermediate_values.items())
    else:
        # Multi-objective trials cannot report intermediate values; the first seed's history is the same curve.
        histories = attrs.get("seed_histories") or [[]]
        steps = list(enumerate(histories[0], start=1))
    curve = tuple((int(step), float(v)) for step, v in steps if v is not None and math.isfinite(v))
    return TrialRecord(
        number=trial.number,
        state=trial.state.name,
        cell=trial.params.get(CELL_PARAMETER),
        params={k: v for k, v in trial.params.items() if k != CELL_PARAMETER},
        value=value if value is None or math.isfinite(value) else None,
        std=statistics.stdev(seed_values) if len(seed_values) > 1 else 0.0,
        seed_values=seed_values,
        test_value=attrs.get("test_value"),
        train_time=train_time,
        curve=curve,
        reason=attrs.get(REASON_ATTR),
        config=attrs.get("config"),
        reused_from=attrs.get("reused_from"),
        raced=raced,
    )


def _on_axis(record: TrialRecord, old: str, new: str) -> TrialRecord:
    """``record`` with parameter ``old`` (s or g) replaced, in place, by ``new`` computed from its config."""
    if old not in record.params:
        return record
    config = record.config
    if config is None or record.cell is None:
        return record._replace(params={k: v for k, v in record.params.items() if k != old})
    value = gain(record.cell, s=config.get("s"), mu=config.get("mu")) if new == GAIN else config["s"]
    return record._replace(params={(new if k == old else k): (value if k == old else v) for k, v in record.params.items()})


def is_plain(cell: str) -> bool:
    """Whether ``cell`` is a baseline kind without momentum (``lstm``, ``gru``, ``rnn``, ``exprnn``)."""
    return CELL_KINDS[cell].variant == "plain"


def base_of(cell: str) -> str:
    """The base cell of a kind: ``momentum-lstm`` -> ``lstm``."""
    return CELL_KINDS[cell].base


def log_scale(distribution: BaseDistribution | None) -> bool:
    """Whether a parameter reads best on a log axis: its range is log-sampled, or its explicit points
    (a categorical) are positive and span two decades or more, as ε and lr grids do."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, FloatDistribution | IntDistribution):
        return distribution.log
    if isinstance(distribution, CategoricalDistribution):
        values = [v for v in distribution.choices if isinstance(v, int | float) and not isinstance(v, bool)]
        return bool(values) and len(values) == len(distribution.choices) and min(values) > 0 and max(values) >= 100 * min(values)
    return False


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{LABELS.get(k, k)}={v:.3g}" if isinstance(v, float) else f"{LABELS.get(k, k)}={v}"
                     for k, v in params.items())  # fmt: skip
