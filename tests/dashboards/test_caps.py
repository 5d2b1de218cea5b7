"""What a report draws of a large study stays within what a browser renders."""

from __future__ import annotations

import dataclasses

from momentum_search.dashboards import StudyTrials, get_curves_info, get_history_info, get_slice_info
from momentum_search.dashboards._trials import MAX_CURVES, MAX_POINTS
from momentum_search.search import SUMMARY_ATTRS, TrialRecord


def _trials(count: int) -> StudyTrials:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    base = TrialRecord(
        number=0,
        state="COMPLETE",
        cell="momentum-lstm",
        params={},
        values=None,
        value=None,
        value_std=0.0,
        seeds=(0,),
        seed_values=(),
        seed_test_values=(),
        seed_histories=(),
        seed_learned=(),
        seed_wall_times=(),
        test_value=None,
        train_time=1.0,
        epochs_run=2,
        wall_time=1.0,
        curve=(),
        reason=None,
        config=None,
    )
    records = []
    for n in range(count):
        value = 1.0 + ((n * 7919) % count) / count  # a permutation: trial 0 is the best (mse)
        pruned = n % 3 == 2
        records.append(
            dataclasses.replace(
                base,
                number=n,
                state="PRUNED" if pruned else "COMPLETE",
                values=None if pruned else (value,),
                value=None if pruned else value,
                seed_values=() if pruned else (value,),
                params={"mu": (n % 97) / 100, "s": 0.5},
                curve=((1, value + 1), (2, value)),
            )
        )
    distributions = {
        "cell": CategoricalDistribution(["momentum-lstm"]),
        "mu": FloatDistribution(0, 0.96),
        "s": FloatDistribution(0.1, 1),
    }
    return StudyTrials("big", "mse", "minimize", 1, ("momentum-lstm",), distributions, records, [])


def test_figures_of_a_large_study_are_capped_and_keep_the_best() -> None:
    trials = _trials(12_000)
    curves = get_curves_info(trials).curves
    assert len(curves) == MAX_CURVES and 0 in {c.number for c in curves}
    history = get_history_info(trials)
    assert len(history.numbers) == MAX_POINTS // 2 and len(history.pruned_numbers) == MAX_POINTS // 2
    assert history.numbers[0] == 0 and history.best_so_far == [1.0] * len(history.numbers)
    series = get_slice_info(trials, "mu").series[0]
    assert len(series.numbers) == MAX_POINTS and min(series.y) == 1.0


def test_a_small_study_is_drawn_whole() -> None:
    trials = _trials(90)
    assert len(get_curves_info(trials).curves) == 90
    assert len(get_slice_info(trials, "mu").series[0].numbers) == 60  # every COMPLETE trial


def test_reading_only_the_drawn_curves_draws_the_same(range_study, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from momentum_search.dashboards import _trials, read_trials

    monkeypatch.setattr(_trials, "MAX_CURVES", 10)
    monkeypatch.setattr(_trials, "MAX_POINTS", 12)
    attrs = (*SUMMARY_ATTRS, "seed_values", "train_time")  # as the report reads them: no seed_histories
    full = read_trials(range_study.study, user_attrs=attrs)
    drawn = read_trials(range_study.study, user_attrs=attrs, drawn_curves=True)
    assert sum(bool(t.curve) for t in drawn.trials) < sum(bool(t.curve) for t in full.trials)
    assert get_curves_info(drawn) == get_curves_info(full) and len(get_curves_info(full).curves) == 10
    assert get_history_info(drawn) == get_history_info(full)


def test_the_map_is_fitted_on_every_trial_and_draws_a_capped_few(range_study, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from momentum_search.dashboards import _mu_s_map, get_mu_s_map_info, read_trials

    trials = read_trials(range_study.study)
    whole = get_mu_s_map_info(trials, "momentum-lstm")
    monkeypatch.setattr(_mu_s_map, "MAX_POINTS", 20)
    capped = get_mu_s_map_info(trials, "momentum-lstm")
    assert len(whole.points) == 40 and len(capped.points) == 20 and capped.best in capped.points
    assert capped.z == whole.z  # the surface is the same
