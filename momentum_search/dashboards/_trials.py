"""A study's trials as the figures read them: one record per trial, seeds summarised, NaN dropped.

Everything here reads what the search engine stored (``Evaluation.attrs()`` per trial); nothing is
recomputed by training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from momentum_search.search import CELL_PARAMETER, GAIN, TrialRecord, best, better, gain
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


# What a figure draws at most, so that a report of 100,000 trials opens in a browser: plotly draws a
# scatter as one SVG node per point (a few thousand stay responsive) and each learning curve as a trace
# of its own (hundreds of traces already make hovering and zooming lag).
MAX_POINTS = 2000  # per figure: the slices, the history, the Pareto front's scatter
MAX_CURVES = 100  # learning curves per figure


def shown(records: list[TrialRecord], direction: str, limit: int) -> list[TrialRecord]:
    """``records`` (in their order) thinned to ``limit``: the best half by value, and the rest spread
    evenly over the others by position, so the figure keeps the optimum and the shape of the whole."""
    if len(records) <= limit:
        return records
    if limit <= 0:
        return []
    keep = {
        r.number
        for r in sorted(
            (r for r in records if r.value is not None),
            key=lambda r: (r.value if direction == "minimize" else -r.value, r.number),  # type: ignore[operator]
        )[: limit // 2]
    }
    rest = [i for i, r in enumerate(records) if r.number not in keep]
    step = len(rest) / (limit - len(keep))
    keep |= {records[rest[int(k * step)]].number for k in range(limit - len(keep))}
    return [r for r in records if r.number in keep]


class FigureUnavailableError(ValueError):
    """The study holds too little (or the wrong kind of) data for a figure; the message says why."""


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
        return [t for t in self.trials if t.value is not None and t.reused_from is None and (cell is None or t.cell == cell)]

    def best(self, records: Iterable[TrialRecord]) -> TrialRecord | None:
        """The record with the best value in the study's direction; the earliest one on a tie."""
        return best(records, self.direction)

    def better(self, a: float, b: float) -> bool:
        return better(a, b, self.direction)

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


def read_trials(study: optuna.Study, *, user_attrs: Collection[str] | None = None, drawn_curves: bool = False) -> StudyTrials:
    """Read every trial of ``study`` once, for all the figures: with only ``user_attrs`` (None: all).

    ``drawn_curves``: read the learning curves (half a large study's rows) of only the trials whose
    curve a figure draws (see :func:`drawn`); the others' ``curve`` is empty.
    """
    from optuna.distributions import CategoricalDistribution

    from momentum_search.studies import stored_trials

    frozen = stored_trials(study, user_attrs=user_attrs, system_attrs=(), curves=not drawn_curves)
    records = [TrialRecord.of(trial) for trial in frozen]
    if drawn_curves and len(study.directions) == 1:  # two objectives keep no curves: seed_histories stand in
        numbers = drawn(records, study.directions[0].name.lower())
        curves = {t.number: t.intermediate_values for t in stored_trials(study, numbers=numbers, user_attrs=(), system_attrs=())}
        for index, trial in enumerate(frozen):
            if trial.number in curves:
                trial.intermediate_values = curves[trial.number]
                records[index] = TrialRecord.of(trial)
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
        trials=records,
        frozen=frozen,
        axis=GAIN if GAIN in distributions else "s",
    )


def curves_drawn(records: list[TrialRecord], direction: str) -> list[TrialRecord]:
    """The trials whose learning curve the figure draws, if they have one (chosen whether or not the
    curves were read, so that reading only these gives the same figure)."""
    return shown([t for t in records if t.state != "WAITING"], direction, MAX_CURVES)


def pruned_drawn(records: list[TrialRecord], direction: str) -> list[TrialRecord]:
    """The PRUNED trials the history draws at their last reported value, if they reported one."""
    return shown([t for t in records if t.state == "PRUNED"], direction, MAX_POINTS // 2)


def drawn(records: list[TrialRecord], direction: str) -> set[int]:
    """The trials whose curve a figure draws: the learning curves' and the history's pruned trials
    (:func:`shown` of each), and each cell kind's best, drawn beside its gradient flow."""
    numbers = {t.number for t in (*curves_drawn(records, direction), *pruned_drawn(records, direction))}
    for cell in {t.cell for t in records}:
        complete = [t for t in records if t.cell == cell and t.complete and not t.twin]
        numbers |= {t.number for t in (best(complete, direction), best((t for t in complete if t.gradient_flow), direction)) if t}
    return numbers


def _on_axis(record: TrialRecord, old: str, new: str) -> TrialRecord:
    """``record`` with parameter ``old`` (s or g) replaced, in place, by ``new`` computed from its config."""
    if old not in record.params:
        return record
    config = record.config
    if config is None or record.cell is None:
        return dataclasses.replace(record, params={k: v for k, v in record.params.items() if k != old})
    value = gain(record.cell, s=config.get("s"), mu=config.get("mu")) if new == GAIN else config["s"]
    return dataclasses.replace(
        record, params={(new if k == old else k): (value if k == old else v) for k, v in record.params.items()}
    )


def is_baseline(cell: str) -> bool:
    """Whether ``cell`` is the baseline of its base cell, the plain kind without momentum (``lstm``, ``gru``, ...)."""
    return CELL_KINDS[cell].baseline


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
    return ", ".join(
        f"{LABELS.get(k, k)}={v:.3g}" if isinstance(v, float) else f"{LABELS.get(k, k)}={v}" for k, v in params.items()
    )
