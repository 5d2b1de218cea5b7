from __future__ import annotations

import statistics

import pytest

from momentum_search.search import TrialPlan, evaluate
from momentum_search.trainers import CELL_KINDS, TrainConfig, train

TASK_PARAMS = {"length": 8, "n_train": 64, "n_valid": 32, "n_test": 32}


def test_fixed_momentum_values_reach_only_the_kinds_that_use_them() -> None:
    plan = TrialPlan(task="adding", fixed={"eps": 1e-6, "beta": 0.5, "hidden_size": 4}, epochs=1)
    adam = plan.config({"cell": "adam-lstm", "mu": 0.3, "s": 0.5}, seed=2)
    lstm = plan.config({"cell": "lstm"}, seed=2)
    assert (adam.eps, adam.beta, adam.mu, adam.s, adam.seed, adam.hidden_size) == (1e-6, 0.5, 0.3, 0.5, 2, 4)
    assert (lstm.eps, lstm.beta, lstm.hidden_size) == (None, None, 4)


def test_k_seeds_report_the_mean_and_spread_of_independent_runs() -> None:
    plan = TrialPlan(task="adding", task_params=TASK_PARAMS, fixed={"hidden_size": 4}, epochs=2, seeds=(3, 5))
    params = {"cell": "momentum-lstm", "mu": 0.5, "s": 0.7}
    evaluation = evaluate(plan, params)
    # Reference: the trainer called directly, once per seed.
    direct = [
        train(
            TrainConfig(
                task="adding", task_params=TASK_PARAMS, cell="momentum-lstm", mu=0.5, s=0.7, hidden_size=4, epochs=2, seed=seed
            )
        )
        for seed in (3, 5)
    ]
    values = [result.best_value for result in direct]
    assert evaluation.value == statistics.fmean(values)
    assert evaluation.std == statistics.stdev(values)
    assert evaluation.test_value == statistics.fmean(result.test_value for result in direct)
    attrs = evaluation.attrs()
    assert attrs["seeds"] == [3, 5]
    assert attrs["seed_values"] == values
    assert attrs["seed_histories"] == [list(result.history) for result in direct]
    assert attrs["epochs_run"] == 4
    assert attrs["config"]["seed"] == 3 and attrs["config"]["mu"] == 0.5
    assert evaluation.reason() is None


def test_a_stop_on_the_first_seed_skips_the_others() -> None:
    plan = TrialPlan(task="adding", task_params=TASK_PARAMS, fixed={"hidden_size": 4}, epochs=3, seeds=(0, 1, 2))
    seen: list[tuple[int, float]] = []

    def stop_after_first_epoch(epoch: int, value: float) -> bool:
        seen.append((epoch, value))
        return True

    evaluation = evaluate(plan, {"cell": "lstm"}, on_epoch=stop_after_first_epoch)
    assert len(evaluation.results) == 1 and evaluation.stopped
    assert [epoch for epoch, _ in seen] == [1]
    assert evaluation.reason() == "pruned: seed 0 after epoch 1"


def test_attrs_record_each_seeds_learned_mu_and_s() -> None:
    plan = TrialPlan(task="adding", task_params=TASK_PARAMS, fixed={"hidden_size": 4}, epochs=2, seeds=(0, 1))
    evaluation = evaluate(plan, {"cell": "learnable-momentum-lstm", "mu": 0.5, "s": 0.7})
    learned = evaluation.attrs()["seed_learned"]
    assert learned == [result.learned for result in evaluation.results]
    assert all(set(seed) == {"mu", "s"} and len(seed["mu"]) == 1 for seed in learned)
    # Each seed trains its own (Adam's first step is ±lr whatever the seed, the second is not).
    assert learned[0] != learned[1] and learned[0]["mu"] != [0.5]
    assert evaluate(plan, {"cell": "momentum-lstm"}).attrs()["seed_learned"] == [{}, {}]


def test_a_gain_trial_trains_exactly_the_trial_at_its_drive_scale() -> None:
    plan = TrialPlan(task="adding", task_params=TASK_PARAMS, fixed={"hidden_size": 4}, epochs=2, seeds=(0, 1))
    mu, g = 0.6, 1.5
    by_gain = evaluate(plan, {"cell": "momentum-lstm", "mu": mu, "g": g}).attrs()
    by_scale = evaluate(plan, {"cell": "momentum-lstm", "mu": mu, "s": g * (1 - mu)}).attrs()
    assert by_gain["seed_values"] == by_scale["seed_values"]
    assert by_gain["seed_histories"] == by_scale["seed_histories"]
    # The config is what ran (s), the gain is recorded beside it, whichever of the two was searched.
    assert by_gain["config"] == by_scale["config"] and by_gain["config"]["s"] == g * (1 - mu)
    assert by_gain["gain"] == pytest.approx(g) and by_scale["gain"] == pytest.approx(g)


def test_gain_becomes_s_for_every_kind_with_s() -> None:
    plan = TrialPlan(task="adding", fixed={"g": 2.0, "hidden_size": 4}, epochs=1)
    adam = plan.config({"cell": "adam-lstm"}, seed=0)  # μ left to the kind's default
    assert adam.s == pytest.approx(2.0 * (1 - CELL_KINDS["adam-lstm"].defaults["mu"]))
    assert plan.config({"cell": "momentum-gru", "mu": 0.0}, seed=0).s == 2.0
    # No constant μ: g is s itself (rmsprop is adam at μ = 0; nag's μ_t has no single steady state).
    assert plan.config({"cell": "nag-lstm"}, seed=0).s == 2.0
    assert plan.config({"cell": "rmsprop-rnn"}, seed=0).s == 2.0
    assert plan.config({"cell": "lstm"}, seed=0).s is None
    with pytest.raises(ValueError, match="g must be a real number with 0 < g, got -1"):
        TrialPlan(task="adding", fixed={"g": -1}).config({"cell": "momentum-lstm"}, seed=0)
    with pytest.raises(ValueError, match="give s or g"):
        TrialPlan(task="adding", fixed={"s": 1.0}).config({"cell": "momentum-lstm", "g": 1.0}, seed=0)
