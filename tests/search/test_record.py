"""The one ranking, best and Pareto rule, against Optuna's own."""

from __future__ import annotations

import dataclasses
import random
import statistics

import optuna
import pytest

from momentum_search.search import (
    TrialPlan,
    TrialRecord,
    best,
    best_trials,
    evaluate,
    evaluation_attrs,
    merged_attrs,
    pareto_front,
    ranked,
)


def record(number: int, values: tuple[float, ...] | None, *, state: str = "COMPLETE", **changes: object) -> TrialRecord:
    base = TrialRecord(
        number=number,
        state=state,
        cell="lstm",
        params={},
        values=values,
        value=values[0] if values else None,
        value_std=None,
        seeds=(),
        seed_values=(),
        seed_test_values=(),
        seed_histories=(),
        seed_learned=(),
        seed_wall_times=(),
        test_value=None,
        train_time=None,
        epochs_run=None,
        wall_time=None,
        curve=(),
        reason=None,
        config=None,
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("directions", [["minimize", "minimize"], ["maximize", "minimize"], ["maximize", "maximize"]])
def test_pareto_front_is_optunas(directions: list[str]) -> None:
    rng = random.Random(len(directions[0]))
    # Coarse values, so that ties and duplicates occur.
    points = [(rng.randint(0, 12) / 4, rng.randint(0, 12) / 4) for _ in range(300)]
    study = optuna.create_study(directions=directions)
    for values in points:
        study.add_trial(optuna.trial.create_trial(values=list(values)))
    records = [record(i, values) for i, values in enumerate(points)]
    assert [r.number for r in pareto_front(records, directions)] == [t.number for t in study.best_trials]
    assert [r.number for r in best_trials(records, directions)] == [t.number for t in study.best_trials]


def test_best_and_ranking_leave_twins_out_and_break_ties_by_number() -> None:
    records = [
        record(0, (0.5,)),
        record(1, (0.2,)),
        record(2, (0.2,), reused_from=1),
        record(3, (0.2,)),
        record(4, None, state="PRUNED", value=0.1, raced=True),
        record(5, None, state="FAIL"),
    ]
    assert [r.number for r in ranked(records, "minimize")] == [4, 1, 3, 0]
    assert [r.number for r in ranked(records, "maximize")] == [0, 1, 3, 4]
    assert best(records, "minimize").number == 4  # type: ignore[union-attr]
    # Optuna's best_trials: COMPLETE ones only, every tie, the twin once.
    assert [r.number for r in best_trials(records, ["minimize"])] == [1, 3]


def test_seeds_trained_apart_merge_into_the_attrs_of_one_trial_that_trained_them_all() -> None:
    plan = TrialPlan(
        task="adding",
        task_params={"length": 6, "n_train": 32, "n_valid": 16, "n_test": 16},
        fixed={"hidden_size": 4, "batch_size": 16},
        epochs=2,
        seeds=(3, 4, 5),
    )
    params = {"cell": "momentum-lstm", "mu": 0.5, "s": 0.7}
    together = evaluation_attrs(evaluate(plan, params))
    apart = [evaluation_attrs(evaluate(plan.model_copy(update={"seeds": seeds}), params)) for seeds in [(3,), (4, 5)]]
    merged = merged_attrs(apart)
    # Training is deterministic given the seed; only the clock differs between runs.
    clock = ("seed_wall_times", "wall_time", "train_time")
    assert {k: v for k, v in merged.items() if k not in clock} == {k: v for k, v in together.items() if k not in clock}
    assert merged.keys() == together.keys()
    times = apart[0]["seed_wall_times"] + apart[1]["seed_wall_times"]
    assert (merged["seed_wall_times"], merged["wall_time"], merged["train_time"]) == (times, sum(times), statistics.fmean(times))
