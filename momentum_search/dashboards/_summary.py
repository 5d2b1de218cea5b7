"""The summary: each cell kind's best COMPLETE trial and the count of trials in every state."""

from __future__ import annotations

from typing import Any, NamedTuple

from momentum_search.dashboards._trials import StudyTrials


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

    states = {
        state.name: 0
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)
    }
    for trial in trials.trials:
        states[trial.state] = states.get(trial.state, 0) + 1
    best = []
    for cell in trials.cells:
        record = trials.best(trials.complete(cell))
        if record is not None:
            assert record.value is not None
            best.append(
                BestRow(
                    cell,
                    record.number,
                    record.params,
                    record.value,
                    record.std,
                    len(record.seed_values),
                    record.test_value,
                    record.train_time,
                )
            )
    return SummaryInfo(trials.name, trials.metric, trials.direction, trials.objectives, states, best)
