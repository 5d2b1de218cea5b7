from __future__ import annotations

import itertools

import optuna
import pytest
from pydantic import ValidationError

from momentum_search.search import Dimension, SearchSpace
from momentum_search.trainers import CELL_KINDS

ALL_DIMENSIONS = {
    "mu": Dimension(low=0.0, high=0.95),
    "s": Dimension(low=0.05, high=2.0, log=True),
    "beta": Dimension(low=0.0, high=0.999),
    "eps": Dimension(low=1e-10, high=1e-6),
    "restart": Dimension(low=1, high=50),
    "lr": Dimension(low=1e-4, high=1e-2),
}
KINDS = ("lstm", "momentum-lstm", "nag-gru", "sr-lstm", "adam-rnn", "rmsprop-exprnn")


def sample(space: SearchSpace, n: int) -> list[optuna.trial.FrozenTrial]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(n):
        trial = study.ask()
        space.suggest(trial)
        study.tell(trial, 0.0)
    return study.trials


def test_each_kind_samples_exactly_the_parameters_it_uses() -> None:
    space = SearchSpace(cells=KINDS, dimensions=ALL_DIMENSIONS)
    trials = sample(space, 120)
    assert {trial.params["cell"] for trial in trials} == set(KINDS)
    for trial in trials:
        kind = CELL_KINDS[trial.params["cell"]]
        # The registry, not the space, says what a kind uses: lr for all, the momentum ones per kind.
        assert set(trial.params) == {"cell", "lr", *kind.hyperparameters}, trial.params


def test_samples_stay_inside_their_ranges_and_types() -> None:
    space = SearchSpace(cells=("adam-lstm", "sr-lstm"), dimensions=ALL_DIMENSIONS)
    for trial in sample(space, 60):
        params = trial.params
        if "mu" in params:
            assert 0.0 <= params["mu"] <= 0.95
            assert 0.0 <= params["beta"] <= 0.999
            assert 1e-10 <= params["eps"] <= 1e-6
        if "restart" in params:
            assert isinstance(params["restart"], int) and 1 <= params["restart"] <= 50
        assert 0.05 <= params["s"] <= 2.0


def test_default_scales_are_log_for_eps_and_lr_only() -> None:
    distributions = SearchSpace(cells=("adam-lstm", "sr-lstm"), dimensions=ALL_DIMENSIONS).distributions()
    assert {name for name, d in distributions.items() if getattr(d, "log", False)} == {"s", "eps", "lr"}
    assert isinstance(distributions["restart"], optuna.distributions.IntDistribution)
    assert distributions["cell"].choices == ("adam-lstm", "sr-lstm")


def test_points_become_a_categorical_choice_of_the_parameters_type() -> None:
    space = SearchSpace(cells=("sr-lstm",), dimensions={"restart": Dimension(points=(2, 40)), "s": Dimension(points=(0.5, 1))})
    distributions = space.distributions()
    assert distributions["restart"].choices == (2, 40)
    assert distributions["s"].choices == (0.5, 1.0)
    assert all(isinstance(value, float) for value in distributions["s"].choices)


def test_grid_is_the_product_of_points_per_kind() -> None:
    mus, ss = (0.0, 0.1, 0.3, 0.6, 0.9), (0.1, 0.3, 0.6, 0.9, 1.0)
    space = SearchSpace(
        cells=("lstm", "momentum-lstm", "nag-lstm"),
        dimensions={"mu": Dimension(points=mus), "s": Dimension(points=ss)},
    )
    expected = (
        [{"cell": "lstm"}]
        + [{"cell": "momentum-lstm", "mu": mu, "s": s} for mu, s in itertools.product(mus, ss)]
        + [{"cell": "nag-lstm", "s": s} for s in ss]
    )
    assert space.grid() == expected


def test_grid_refuses_ranges() -> None:
    space = SearchSpace(cells=("momentum-lstm",), dimensions={"mu": Dimension(low=0, high=0.5)})
    with pytest.raises(ValueError, match=r"space\.mu is a range"):
        space.grid()


@pytest.mark.parametrize(
    ("dimensions", "cells", "message"),
    [
        ({"mu": {"low": 0.0, "high": 1.0}}, ("momentum-lstm",), r"space\.mu: 1 is outside the allowed range 0 ≤ mu < 1"),
        ({"s": {"low": 0.0, "high": 1.0}}, ("momentum-lstm",), r"space\.s: 0 is outside the allowed range 0 < s"),
        ({"beta": {"points": [0.5, 1.5]}}, ("adam-lstm",), r"space\.beta: 1\.5 is outside .* 0 ≤ beta < 1"),
        ({"restart": {"low": 1, "high": 2.5}}, ("sr-lstm",), r"space\.restart: 2\.5 is not an integer"),
        ({"eps": {"low": 0.0, "high": 1e-3}}, ("adam-lstm",), r"space\.eps: 0 is outside .* 0 < eps"),
        ({"lr": {"low": 1e-3, "high": 1e-2, "log": True, "step": 1e-3}}, ("lstm",), "log-scale range cannot have a step"),
        ({"mu": {"low": 0.5, "high": 0.1}}, ("momentum-lstm",), r"low \(0\.5\) must not exceed high \(0\.1\)"),
        ({"mu": {"low": 0.1}}, ("momentum-lstm",), "needs both low and high"),
        ({"mu": {"low": 0.1, "high": 0.2, "points": [0.1]}}, ("momentum-lstm",), "either points or a range"),
        ({"mu": {"points": [0.1, 0.1]}}, ("momentum-lstm",), "points must be distinct"),
        ({"mu": {"low": 0.1, "high": 0.2}}, ("lstm", "sr-lstm"), r"space\.mu: none of the cells lstm, sr-lstm uses mu"),
        ({}, ("lstm", "fancy-lstm"), "unknown cell kind.*fancy-lstm"),
        ({}, ("lstm", "lstm"), "cell kinds must be distinct"),
    ],
)
def test_invalid_spaces_are_refused_naming_the_value_and_range(
    dimensions: dict[str, dict[str, object]], cells: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        SearchSpace(cells=cells, dimensions=dimensions)


def test_gain_is_sampled_by_every_kind_with_s_and_excludes_s() -> None:
    dimensions = {"mu": Dimension(low=0.0, high=0.9), "g": Dimension(low=0.5, high=4.0, log=True)}
    space = SearchSpace(cells=KINDS, dimensions=dimensions)
    for trial in sample(space, 60):
        kind = CELL_KINDS[trial.params["cell"]]
        expected = {"cell", *(["mu"] if "mu" in kind.hyperparameters else []), *(["g"] if "s" in kind.hyperparameters else [])}
        assert set(trial.params) == expected, trial.params
    with pytest.raises(ValidationError, match=r"space: search s or g \(the gain s/\(1−μ\), which sets s\), not both"):
        SearchSpace(cells=("momentum-lstm",), dimensions={**dimensions, "s": Dimension(low=0.1, high=1.0)})
    with pytest.raises(ValidationError, match=r"space\.g: none of the cells lstm uses g; kinds that do: momentum-lstm, nag-lstm"):
        SearchSpace(cells=("lstm",), dimensions={"g": Dimension(low=0.5, high=4.0)})
