"""The data of every figure, computed apart from drawing it: ``get_x_info(trials) -> NamedTuple``.

Each getter raises :class:`FigureUnavailableError` saying why when the study cannot support its
figure (too few trials, a parameter not searched, ...); the report lists that reason instead.
"""

from __future__ import annotations

import functools
import statistics
from typing import TYPE_CHECKING, Any, NamedTuple

from momentum_search.dashboards._confirmation import ConfirmationInfo, ConfirmationRow
from momentum_search.dashboards._fits import ImportanceGroup, Sample, Surface, fit_importances, interpolate, varying
from momentum_search.dashboards._trials import (
    LABELS,
    MAX_POINTS,
    FigureUnavailableError,
    StudyTrials,
    TrialRecord,
    base_of,
    curves_drawn,
    is_plain,
    log_scale,
    pruned_drawn,
    shown,
)
from momentum_search.search import CELL_PARAMETER, pareto_front

if TYPE_CHECKING:
    pass

MIN_SURFACE_POINTS = 12  # distinct sampled (μ, s) points below which the map draws the points alone
# Importances settle long before this many trials, while handing the trials to the evaluators and fitting
# them grow with the study (3.5 s for a 10,000-trial study's four scopes here).
IMPORTANCE_TRIALS = 1000


# ---- summary ----------------------------------------------------------------------------------


class BestRow(NamedTuple):
    """The best COMPLETE trial of one cell kind."""

    cell: str
    number: int
    params: dict[str, Any]
    value: float
    std: float
    seeds: int
    test_value: float | None
    train_time: float | None


class SummaryInfo(NamedTuple):
    study: str
    metric: str
    direction: str
    objectives: int
    states: dict[str, int]  # every trial state, zeros included
    best: list[BestRow]  # per cell kind, in the study's order


def get_summary_info(trials: StudyTrials) -> SummaryInfo:
    from optuna.trial import TrialState

    states = {state.name: 0 for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                                          TrialState.RUNNING, TrialState.WAITING)}  # fmt: skip
    for trial in trials.trials:
        states[trial.state] = states.get(trial.state, 0) + 1
    best = []
    for cell in trials.cells:
        record = trials.best(trials.complete(cell))
        if record is not None:
            assert record.value is not None
            best.append(BestRow(cell, record.number, record.params, record.value, record.std,
                                len(record.seed_values), record.test_value, record.train_time))  # fmt: skip
    return SummaryInfo(trials.name, trials.metric, trials.direction, trials.objectives, states, best)


# ---- μ × s map ----------------------------------------------------------------------------------


class MapPoint(NamedTuple):
    number: int
    mu: float
    s: float
    value: float
    std: float | None  # None for one seed: no spread to show
    seeds: int


class MuSMapInfo(NamedTuple):
    """The objective over μ × s (or μ × g, the gain s/(1−μ): ``axis``) for one cell kind; ``s`` and
    ``s_log`` are then those of g.

    On a grid (μ and s searched as explicit points) ``z[i][j]`` is the mean over seeds at
    ``(mu[j], s[i])`` of the best trial there and ``z_std`` its seed spread (None where no trial
    completed). Otherwise ``z`` is the linear interpolation of the trials' values on a regular mesh
    (s in log space when it is searched on a log scale; None outside the trials' convex hull), or
    None altogether when the trials span no area.
    """

    cell: str
    metric: str
    direction: str
    axis: str  # "s", or GAIN
    grid: bool
    mu: list[float]
    s: list[float]
    s_log: bool
    z: list[list[float | None]] | None
    z_std: list[list[float | None]] | None
    points: list[MapPoint]  # every COMPLETE trial of the kind
    best: MapPoint
    note: str | None = None  # why no surface is drawn over sampled points


def mu_s_cells(trials: StudyTrials) -> list[str]:
    """The cell kinds whose trials search both μ and s (or g: ``trials.axis``)."""
    return [c for c in trials.cells if _mu_s_records(trials, c)]


def _mu_s_records(trials: StudyTrials, cell: str) -> list[TrialRecord]:
    return [t for t in trials.finished(cell) if "mu" in t.params and trials.axis in t.params]


def _prefer_complete(records: list[TrialRecord]) -> list[TrialRecord]:
    # A raced trial's mean covers fewer seeds than a COMPLETE one's: it is a best only where nothing completed.
    return [r for r in records if not r.raced] or records


def get_mu_s_map_info(trials: StudyTrials, cell: str, *, surface: Surface | None = None) -> MuSMapInfo:
    """The map of ``cell``; ``surface``: :func:`interpolate` of :func:`mu_s_surface_input`, when computed
    elsewhere (the report's worker), else computed here."""
    from optuna.distributions import CategoricalDistribution

    if cell not in trials.cells:
        raise ValueError(f"cell {cell!r} is not in study {trials.name}; its cells: {', '.join(trials.cells)}")
    axis = trials.axis
    records = _mu_s_records(trials, cell)
    if not records:
        raise FigureUnavailableError(f"{cell} has no complete trial that searches both μ and {LABELS[axis]}")
    top = trials.best(_prefer_complete(records))
    assert top is not None  # records has a value each
    mu_dist, s_dist = trials.distributions.get("mu"), trials.distributions.get(axis)
    s_log = log_scale(s_dist)
    info = functools.partial(MuSMapInfo, cell=cell, metric=trials.metric, direction=trials.direction, axis=axis,
                             s_log=s_log, best=_map_point(top, axis))  # fmt: skip
    if isinstance(mu_dist, CategoricalDistribution) and isinstance(s_dist, CategoricalDistribution):
        mu_axis = sorted(float(v) for v in mu_dist.choices if isinstance(v, int | float))
        s_axis = sorted(float(v) for v in s_dist.choices if isinstance(v, int | float))
        z: list[list[float | None]] = [[None] * len(mu_axis) for _ in s_axis]
        z_std: list[list[float | None]] = [[None] * len(mu_axis) for _ in s_axis]
        for i, s in enumerate(s_axis):
            for j, mu in enumerate(mu_axis):
                here = trials.best(t for t in records if t.params["mu"] == mu and t.params[axis] == s)
                if here is not None:
                    z[i][j], z_std[i][j] = here.value, here.std if len(here.seed_values) > 1 else None
        return info(grid=True, mu=mu_axis, s=s_axis, z=z, z_std=z_std, points=_map_points(records, axis))
    distinct = len({(float(t.params["mu"]), float(t.params[axis])) for t in records})
    if distinct < MIN_SURFACE_POINTS:
        # A surface through a handful of noisy points shows the interpolation, not the landscape.
        note = (f"{distinct} distinct (μ, {LABELS[axis]}) points: too few for a surface (it needs "
                f"{MIN_SURFACE_POINTS}); each trial is drawn with its value")  # fmt: skip
        return info(grid=False, mu=[], s=[], z=None, z_std=None, points=_map_points(records, axis), note=note)
    mu_axis, s_axis, z_mesh = surface or interpolate(*_surface_input(records, axis, s_log))
    # The surface is fitted on every trial; the figure draws up to MAX_POINTS of them over it.
    points = _map_points(shown(records, trials.direction, MAX_POINTS), axis)
    return info(grid=False, mu=mu_axis, s=s_axis, z=z_mesh, z_std=None, points=points)


def mu_s_surface_input(trials: StudyTrials, cell: str) -> tuple[list[float], list[float], list[float], bool] | None:
    """The arguments of :func:`interpolate` for ``cell``'s map; None where the map draws no surface (no
    trials, a grid, too few distinct points)."""
    from optuna.distributions import CategoricalDistribution

    records = _mu_s_records(trials, cell)
    mu_dist, s_dist = trials.distributions.get("mu"), trials.distributions.get(trials.axis)
    if isinstance(mu_dist, CategoricalDistribution) and isinstance(s_dist, CategoricalDistribution):
        return None
    if len({(float(t.params["mu"]), float(t.params[trials.axis])) for t in records}) < MIN_SURFACE_POINTS:
        return None
    return _surface_input(records, trials.axis, log_scale(s_dist))


def _surface_input(records: list[TrialRecord], axis: str, s_log: bool) -> tuple[list[float], list[float], list[float], bool]:
    return ([float(t.params["mu"]) for t in records], [float(t.params[axis]) for t in records],
            [t.scored for t in records], s_log)  # fmt: skip


def _map_points(records: list[TrialRecord], axis: str) -> list[MapPoint]:
    return [_map_point(t, axis) for t in records]


def _map_point(t: TrialRecord, axis: str) -> MapPoint:
    return MapPoint(t.number, float(t.params["mu"]), float(t.params[axis]), t.scored,
                    t.std if len(t.seed_values) > 1 else None, len(t.seed_values))  # fmt: skip


# ---- slices ------------------------------------------------------------------------------------


class SliceSeries(NamedTuple):
    cell: str
    numbers: list[int]
    x: list[float]
    y: list[float]  # mean over seeds
    std: list[float | None]  # seed spread: the error bars; None for one seed
    seeds: list[int]


class SliceInfo(NamedTuple):
    param: str
    log: bool
    metric: str
    direction: str
    series: list[SliceSeries]  # one per cell kind that searches the parameter


def get_slice_info(trials: StudyTrials, param: str) -> SliceInfo:
    if param not in LABELS:
        raise ValueError(f"param must be one of {', '.join(LABELS)}; got {param!r}")
    series = []
    for cell in trials.cells:
        records = sorted((t for t in trials.finished(cell) if param in t.params), key=lambda t: t.params[param])
        records = shown(records, trials.direction, MAX_POINTS // max(1, len(trials.cells)))
        if records:
            series.append(SliceSeries(
                cell, [t.number for t in records], [float(t.params[param]) for t in records],
                [t.scored for t in records], [t.std if len(t.seed_values) > 1 else None for t in records],
                [len(t.seed_values) for t in records],
            ))  # fmt: skip
    if not series:
        raise FigureUnavailableError(f"{LABELS[param]} is not searched by any complete trial (fixed or unused)")
    return SliceInfo(param, log_scale(trials.distributions.get(param)), trials.metric, trials.direction, series)


def searched_parameters(trials: StudyTrials) -> list[str]:
    return [p for p in LABELS if any(p in t.params for t in trials.trials)]


# ---- importances -------------------------------------------------------------------------------


class ImportanceInfo(NamedTuple):
    metric: str
    groups: list[ImportanceGroup]
    skipped: list[str]  # scopes without enough data, each with why


ALL_CELLS = "all cell kinds"


def get_importance_info(trials: StudyTrials, *, seed: int = 0) -> ImportanceInfo:
    """fANOVA and PED-ANOVA importances over all trials, and within each cell kind.

    Across kinds the momentum parameters are conditional: fANOVA sees only the parameters every
    trial has (the cell kind and any shared one), PED-ANOVA all of them. Within one kind both see
    its parameters. Only parameters whose value varies are assessed. A scope of more than
    ``IMPORTANCE_TRIALS`` complete trials is assessed on a random sample of that many (``seed``).
    """
    scopes, skipped = importance_scopes(trials, seed=seed)
    return importance_info(trials.metric, fit_importances(scopes, trials.direction, seed=seed), skipped)


def importance_scopes(trials: StudyTrials, *, seed: int = 0) -> tuple[list[tuple[str, list[Sample]]], list[str]]:
    """What :func:`get_importance_info` fits (see there): each scope with its sampled trials, and the
    scopes without enough data, each with why."""
    import random

    complete = [t for t in trials.frozen if t.state.name == "COMPLETE"]
    scopes = [(ALL_CELLS, complete)] if len(trials.cells) > 1 else []
    scopes += [(cell, [t for t in complete if t.params.get(CELL_PARAMETER) == cell]) for cell in trials.cells]
    fitted: list[tuple[str, list[Sample]]] = []
    skipped: list[str] = []
    for scope, frozen in scopes:
        if len(frozen) > IMPORTANCE_TRIALS:
            frozen = sorted(random.Random(seed).sample(frozen, IMPORTANCE_TRIALS), key=lambda t: t.number)
        if len(frozen) < 2 or not varying(frozen, everywhere=False):
            skipped.append(f"{scope}: needs ≥ 2 complete trials with a varying parameter ({len(frozen)} complete)")
            continue
        fitted.append((scope, [Sample(t.number, t.params, t.distributions, t.values[0]) for t in frozen]))
    return fitted, skipped


def importance_info(metric: str, groups: list[ImportanceGroup], skipped: list[str]) -> ImportanceInfo:
    """The figure's data from :func:`fit_importances` of :func:`importance_scopes`."""
    if not groups:
        raise FigureUnavailableError("importances need ≥ 2 complete trials with a varying parameter; " + "; ".join(skipped))
    return ImportanceInfo(metric, groups, skipped)


# ---- history and learning curves ------------------------------------------------------------


class HistoryInfo(NamedTuple):
    metric: str
    direction: str
    numbers: list[int]  # COMPLETE trials
    values: list[float]
    cells: list[str | None]
    best_so_far: list[float]  # best value among trials numbered ≤ numbers[i]
    pruned_numbers: list[int]  # PRUNED trials with a reported value
    pruned_values: list[float]  # their last reported value


def get_history_info(trials: StudyTrials) -> HistoryInfo:
    complete = sorted(trials.complete(), key=lambda t: t.number)
    if not complete:
        raise FigureUnavailableError("no complete trial yet")
    best_so_far: list[float] = []
    for t in complete:
        assert t.value is not None
        best_so_far.append(t.value if not best_so_far or trials.better(t.value, best_so_far[-1]) else best_so_far[-1])
    # Every trial counts toward the best so far; the figure draws up to MAX_POINTS of them.
    best_at = {t.number: best for t, best in zip(complete, best_so_far, strict=True)}
    complete = shown(complete, trials.direction, MAX_POINTS // 2)
    pruned = [t for t in pruned_drawn(trials.trials, trials.direction) if t.curve]
    return HistoryInfo(
        trials.metric, trials.direction, [t.number for t in complete], [t.scored for t in complete],
        [t.cell for t in complete], [best_at[t.number] for t in complete], [t.number for t in pruned],
        [t.curve[-1][1] for t in pruned],
    )  # fmt: skip


class Curve(NamedTuple):
    number: int
    cell: str | None
    state: str
    epochs: list[int]
    values: list[float]
    reason: str | None


class CurvesInfo(NamedTuple):
    metric: str
    direction: str
    curves: list[Curve]  # every trial with at least one reported epoch, up to MAX_CURVES (see shown)


def get_curves_info(trials: StudyTrials) -> CurvesInfo:
    curves = [
        Curve(t.number, t.cell, t.state, [e for e, _ in t.curve], [v for _, v in t.curve], t.reason)
        for t in curves_drawn(trials.trials, trials.direction)
        if t.curve
    ]
    if not curves:
        raise FigureUnavailableError("no trial has reported a validation value yet")
    return CurvesInfo(trials.metric, trials.direction, curves)


# ---- cell against cell ----------------------------------------------------------------------


class CellStats(NamedTuple):
    cell: str
    baseline: bool  # a plain kind: no momentum, μ = 0
    trials: int  # COMPLETE trials
    best_number: int
    best: float  # the search's value of the kind's best trial: optimistic
    best_std: float | None  # seed spread of the best trial; None for one seed
    best_seeds: int
    best_test: float | None
    mean: float  # over the kind's COMPLETE trials
    std: float | None  # sample spread over those trials; None for one
    confirmed: ConfirmationRow | None  # the kind's best retrained on held-out seeds, once confirmed


class CellComparisonInfo(NamedTuple):
    metric: str
    direction: str
    rows: list[CellStats]  # kinds with at least one COMPLETE trial, in the study's order
    missing: list[str]  # kinds without one
    held_out: int  # held-out seeds behind the confirmed values (0: none confirmed)


def get_cell_comparison_info(trials: StudyTrials, confirmation: ConfirmationInfo | None = None) -> CellComparisonInfo:
    """Each kind's best search trial, and its value on held-out seeds where ``confirmation`` has it."""
    confirmed = {row.cell: row for row in (confirmation.rows if confirmation else []) if f"best {row.cell}" in row.roles
                 and row.mean is not None}  # fmt: skip
    rows, missing = [], []
    for cell in trials.cells:
        records = trials.complete(cell)
        best = trials.best(records)
        if best is None:
            missing.append(cell)
            continue
        values = [t.value for t in records if t.value is not None]
        rows.append(CellStats(
            cell, is_plain(cell), len(records), best.number, best.scored,
            best.std if len(best.seed_values) > 1 else None, len(best.seed_values), best.test_value,
            statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None,
            confirmed.get(cell),
        ))  # fmt: skip
    if not rows:
        raise FigureUnavailableError("no complete trial yet")
    held_out = max((row.seeds for row in confirmed.values()), default=0)
    return CellComparisonInfo(trials.metric, trials.direction, rows, missing, held_out)


class ZeroEntry(NamedTuple):
    label: str
    cell: str
    number: int
    mu: float | None  # None for a plain baseline, which has no μ (taken as μ = 0)
    s: float | None  # or g, as MomentumZeroInfo.axis
    value: float
    std: float | None  # None for one seed
    seeds: int


class MomentumZeroRow(NamedTuple):
    cell: str
    s: float  # the s (or g: MomentumZeroInfo.axis) of the kind's best trial
    positive: ZeroEntry | None  # best trial with μ > 0 at that s
    zero: ZeroEntry | None  # best trial with μ = 0 at that s
    baseline: ZeroEntry | None  # best trial of the plain kind of the same base cell


class MomentumZeroInfo(NamedTuple):
    metric: str
    direction: str
    axis: str  # "s", or GAIN: then μ = 0 and μ > 0 are compared at matched gain
    rows: list[MomentumZeroRow]


def get_momentum_zero_info(trials: StudyTrials) -> MomentumZeroInfo:
    """μ = 0 against μ > 0 at each kind's best s (or g, the gain: ``trials.axis``), with the plain
    baseline of its base cell as μ = 0 too.

    Trials count as "at the best s" only with exactly that s: on a grid that is a whole column of the
    μ × s map; with sampled ranges it is usually the best trial alone, and the baseline remains.
    """
    axis = trials.axis
    rows = []
    for cell in mu_s_cells(trials):
        records = _prefer_complete(_mu_s_records(trials, cell))
        best = trials.best(records)
        assert best is not None
        s = float(best.params[axis])
        at_s = [t for t in records if t.params[axis] == best.params[axis]]
        positive = trials.best(t for t in at_s if t.params["mu"] > 0)
        zero = trials.best(t for t in at_s if t.params["mu"] == 0)
        base = base_of(cell)
        baseline = trials.best(trials.complete(base)) if base in trials.cells else None
        rows.append(MomentumZeroRow(
            cell, s,
            _entry(positive, f"{cell} μ > 0", cell, axis),
            _entry(zero, f"{cell} μ = 0", cell, axis),
            _entry(baseline, f"{base} (plain, as μ = 0)", base, axis),
        ))  # fmt: skip
    if not rows:
        raise FigureUnavailableError(f"no cell kind in this study has complete trials searching both μ and {LABELS[axis]}")
    return MomentumZeroInfo(trials.metric, trials.direction, axis, rows)


def _entry(record: TrialRecord | None, label: str, cell: str, axis: str) -> ZeroEntry | None:
    if record is None:
        return None
    mu, s = record.params.get("mu"), record.params.get(axis)
    seeds = len(record.seed_values)
    return ZeroEntry(label, cell, record.number, mu, s, record.scored, record.std if seeds > 1 else None, seeds)


# ---- gradient flow ------------------------------------------------------------------------------


class FlowSeries(NamedTuple):
    cell: str
    number: int  # the trial (its first seed) the norms were measured on
    t: list[int]  # time steps, 1..T (evenly thinned for long sequences)
    init: list[float]  # ‖∂L/∂h_t‖ at initialisation
    trained: list[float]  # ‖∂L/∂h_t‖ of the best validation epoch's model
    loss_init: float  # the loss L the norms are taken of, on the same batch
    loss_trained: float
    epochs: list[int]  # the trial's first-seed validation curve, drawn beside it
    values: list[float | None]  # None where an epoch diverged
    label: str | None = None  # the legend's name; default "CELL (trial N)"


class GradientFlowInfo(NamedTuple):
    metric: str
    series: list[FlowSeries]


def get_gradient_flow_info(trials: StudyTrials) -> GradientFlowInfo:
    """‖∂L/∂h_t‖ of the last layer over time for the best configuration of each cell kind (the
    paper's Fig. 2), after training and at initialisation, with the loss it is taken of and the
    trial's validation curve: each trial measured it on its first seed's first validation batch.
    """
    series = []
    for cell in trials.cells:
        best = trials.best(t for t in trials.complete(cell) if t.gradient_flow and "trained" in t.gradient_flow)
        if best is None:
            continue
        flow = best.gradient_flow
        assert flow is not None  # chosen among those with one
        init, trained = flow["init"], flow["trained"]
        series.append(FlowSeries(
            cell, best.number, trained["t"], init["norms"], trained["norms"], init["loss"], trained["loss"],
            [epoch for epoch, _ in best.curve], [value for _, value in best.curve],
        ))  # fmt: skip
    if not series:
        raise FigureUnavailableError("no complete trial recorded its gradient flow (trials before momentum-search 0.2 did not)")
    return GradientFlowInfo(trials.metric, series)


# ---- Pareto front -------------------------------------------------------------------------------


class ParetoPoint(NamedTuple):
    number: int
    cell: str | None
    value: float
    train_time: float
    on_front: bool


class ParetoInfo(NamedTuple):
    metric: str
    direction: str
    points: list[ParetoPoint]  # every COMPLETE trial


def get_pareto_info(trials: StudyTrials) -> ParetoInfo:
    if trials.objectives != 2:
        raise FigureUnavailableError("the study has one objective; add objective.train_time for a Pareto front")
    records = [t for t in trials.complete() if t.train_time is not None]
    if not records:
        raise FigureUnavailableError("no complete trial yet")

    front = {t.number for t in pareto_front(records, [trials.direction, "minimize"])}
    # The whole front, and the other trials thinned to what a scatter draws.
    others = shown([t for t in records if t.number not in front], trials.direction, max(0, MAX_POINTS - len(front)))
    records = sorted([t for t in records if t.number in front] + others, key=lambda t: t.number)
    points = [ParetoPoint(t.number, t.cell, t.scored, time, t.number in front)
              for t in records if (time := t.train_time) is not None]  # all of them: filtered above
    return ParetoInfo(trials.metric, trials.direction, points)
