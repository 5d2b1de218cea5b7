"""The read side of a study: its summary (``studies show``), and every study's at a glance (``studies list``)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from momentum_search._quiet import quiet_optuna
from momentum_search.search import (
    REUSED_FROM_ATTR,
    STANDING_ATTRS,
    STANDING_PARAMS,
    SUMMARY_ATTRS,
    TrialCounts,
    TrialRecord,
    best_trials,
    ranked,
    searched_per_kind,
)
from momentum_search.store import (
    open_storage,
    query_trials,
    stored_outlines,
    study_aggregates,
)
from momentum_search.studies._confirmation import (
    CONFIRMS_ATTR,
    Confirmation,
    candidate_roles,
    held_study,
    read_confirmation,
    top_confirmation,
)
from momentum_search.studies._spec import parse_spec
from momentum_search.studies._study import (
    SPEC_ATTR,
    confirmation_name,
    load,
    standing_of,
    study_spec,
    trial_records,
)

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class TrialRow:
    """One trial as listed by ``studies show``."""

    number: int
    state: str
    cell: str | None
    params: dict[str, Any]
    values: list[float] | None
    value_std: float | None
    seeds: int  # how many training seeds the value is the mean of (0: the trial trained none)
    test_value: float | None
    epochs_run: int | None
    wall_time: float | None
    reason: str | None


@dataclass(frozen=True)
class StudySummary:
    """A study at a glance: spec, budget, trials by state, best trial(s)."""

    name: str
    task: str
    cells: tuple[str, ...]
    metric: str
    directions: list[Literal["maximize", "minimize"]]
    budget: int
    counts: TrialCounts
    best: list[TrialRow]  # the best trial, or the Pareto front for two objectives
    spec: dict[str, Any] = field(repr=False)
    trials: list[TrialRow] = field(default_factory=list, repr=False)  # every trial, or the best when summarised
    confirmation: Confirmation | None = field(default=None, repr=False)  # None with two objectives
    omitted: int = 0  # trials left out of ``trials``: a large study lists only its best (see show_study)

    def to_json(self, *, with_trials: bool) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        del data["confirmation"]  # the CLI writes it with its verdicts
        if not with_trials:
            del data["trials"], data["spec"], data["omitted"]
        return _json_safe(data)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _row(record: TrialRecord, retried: set[int]) -> TrialRow:
    reason = record.reason
    if reason is None and record.number in retried:
        reason = "worker lost (no heartbeat); retried"
    return TrialRow(
        number=record.number,
        state=record.state,
        cell=record.cell,
        params=record.params,
        values=None if record.values is None else list(record.values),
        value_std=record.value_std,
        seeds=len(record.seeds),
        test_value=record.test_value,
        epochs_run=record.epochs_run,
        wall_time=record.wall_time,
        reason=reason,
    )


def _counts(states: dict[str, int], twins: int) -> TrialCounts:
    complete, pruned = states.get("COMPLETE", 0), states.get("PRUNED", 0)
    return TrialCounts(
        finished=complete + pruned,
        complete=complete,
        pruned=pruned,
        failed=states.get("FAIL", 0),
        waiting=states.get("WAITING", 0),
        running=states.get("RUNNING", 0),
        twins=twins,
    )


# A study of more trials than this lists only its best SHOW_TOP in ``studies show`` (all_trials: every one).
# Beyond a few hundred rows a terminal no longer shows them anyway, and a browser slows on JSON that size.
SHOW_ALL_UP_TO = 500
SHOW_TOP = 50
_RETRY_HISTORY = "retry_history"  # Optuna's system attr on a retried copy: the numbers it retries


def summarize(study: optuna.Study, *, all_trials: bool = False) -> StudySummary:
    """The summary of a momentum-search study: every trial up to ``SHOW_ALL_UP_TO``, else the best
    ``SHOW_TOP`` (all of them with ``all_trials``). Reads the trials' summary attrs, no curve; of a
    larger study only the trials it shows (listed, best, confirmation candidates), chosen by the same
    rules from every trial's standing (:func:`standings`), which also gives the counts."""
    spec = study_spec(study)
    directions, direction = spec.objective.directions, spec.objective.direction
    assert spec.objective.metric is not None and direction is not None
    outlines = stored_outlines(study, params=STANDING_PARAMS, user_attrs=STANDING_ATTRS, system_attrs=(_RETRY_HISTORY,))
    held = held_study(study) if len(directions) == 1 and CONFIRMS_ATTR not in study.user_attrs else None
    only: dict[str, Any] = {"user_attrs": SUMMARY_ATTRS, "system_attrs": (), "curves": False}
    ranks = [standing_of(outline) for outline in outlines]
    if all_trials or len(outlines) <= SHOW_ALL_UP_TO:
        rows = listed = trial_records(study, **only)
        omitted = 0
    else:
        wanted = {t.number for t in (*ranked(ranks, direction)[:SHOW_TOP], *best_trials(ranks, directions))}
        if held is not None:
            wanted |= {t.number for t, _ in candidate_roles(ranks, direction=direction, top=held[1])}
        # The same rules on just these trials give the same answers: every trial they pick is here.
        rows = trial_records(study, numbers=wanted, **only)
        listed = ranked(rows, direction)[:SHOW_TOP]
        omitted = len(outlines) - len(listed)
    retried = {o.system_attrs[_RETRY_HISTORY][-1] for o in outlines if o.system_attrs.get(_RETRY_HISTORY)}
    return StudySummary(
        name=study.study_name,
        task=spec.task,
        cells=spec.cells,
        metric=spec.objective.metric,
        directions=directions,
        budget=spec.trials,
        counts=_counts(Counter(t.state for t in ranks), sum(t.twin for t in ranks)),
        best=[_row(record, retried) for record in best_trials(rows, directions)],
        spec=spec.to_json(),
        trials=[_row(record, retried) for record in listed],
        confirmation=None if held is None else read_confirmation(study, rows, held=held, searched=searched_per_kind(ranks)),
        omitted=omitted,
    )


def list_studies(storage: str | None = None) -> list[StudySummary]:
    """Every momentum-search study in ``storage`` (studies without a spec are skipped), without its
    trials: counts and best values come from SQL aggregates, and only the best trials are read."""
    quiet_optuna()
    backend = open_storage(storage, read_only=True)
    aggregates = study_aggregates(backend, count_attrs=(REUSED_FROM_ATTR,))
    names = {aggregate.name for aggregate in aggregates}
    summaries = []
    for aggregate in aggregates:
        if SPEC_ATTR not in aggregate.user_attrs:
            continue
        spec = parse_spec(aggregate.user_attrs[SPEC_ATTR], source=f"stored spec of study {aggregate.name}", here=False)
        directions = spec.objective.directions
        only: dict[str, Any] = {"user_attrs": SUMMARY_ATTRS, "system_attrs": (), "curves": False}
        if len(directions) > 1:  # the Pareto front needs every COMPLETE trial's values
            found = query_trials(backend, aggregate.study_id, states=("COMPLETE",), **only)
        elif aggregate.best_value is not None:
            found = query_trials(backend, aggregate.study_id, best_value=aggregate.best_value, **only)
        else:
            found = []
        best = best_trials([TrialRecord.of(trial) for trial in found], directions)
        confirmation = None
        if len(directions) == 1 and CONFIRMS_ATTR not in aggregate.user_attrs and best:
            held = confirmation_name(aggregate.name)
            confirmation = top_confirmation(backend, aggregate.name, spec, best[0], held if held in names else None)
        assert spec.objective.metric is not None
        summaries.append(
            StudySummary(
                name=aggregate.name,
                task=spec.task,
                cells=spec.cells,
                metric=spec.objective.metric,
                directions=directions,
                budget=spec.trials,
                counts=_counts(aggregate.states, aggregate.attr_counts[REUSED_FROM_ATTR]),
                best=[_row(record, set()) for record in best],
                spec=spec.to_json(),
                confirmation=confirmation,
            )
        )
    return summaries


def show_study(name: str, *, storage: str | None = None, all_trials: bool = False) -> StudySummary:
    """The summary of study ``name`` (see :func:`summarize`)."""
    quiet_optuna()
    return summarize(load(open_storage(storage, read_only=True), name), all_trials=all_trials)
