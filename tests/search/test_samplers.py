from __future__ import annotations

import optuna
import pytest
from pydantic import ValidationError

from momentum_search.search import PrunerSpec, SamplerSpec


@pytest.mark.parametrize(("objectives", "sampler", "pruner"), [(1, "tpe", "median"), (2, "nsga2", "none")])
def test_defaults_follow_the_number_of_objectives(objectives: int, sampler: str, pruner: str) -> None:
    assert SamplerSpec().resolved(objectives=objectives).name == sampler
    assert PrunerSpec().resolved(objectives=objectives).name == pruner


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("tpe", optuna.samplers.TPESampler),
        ("gp", optuna.samplers.GPSampler),
        ("cmaes", optuna.samplers.CmaEsSampler),
        ("random", optuna.samplers.RandomSampler),
        ("qmc", optuna.samplers.QMCSampler),
        ("nsga2", optuna.samplers.NSGAIISampler),
        ("grid", optuna.samplers.RandomSampler),  # grid trials arrive with every parameter fixed
    ],
)
def test_each_sampler_builds(name: str, cls: type) -> None:
    assert isinstance(SamplerSpec(name=name).resolved(objectives=1).build(trial_number=3), cls)


def test_trial_seeds_differ_by_trial_and_repeat_by_number() -> None:
    spec = SamplerSpec(name="random", seed=7)
    distribution = optuna.distributions.FloatDistribution(0.0, 1.0)

    def first_draw(number: int) -> float:
        study = optuna.create_study(sampler=spec.build(trial_number=number))
        return study.ask({"x": distribution}).params["x"]

    assert first_draw(0) == first_draw(0)
    assert first_draw(0) != first_draw(1)


@pytest.mark.parametrize(
    ("pruner", "cls"),
    [
        ("median", optuna.pruners.MedianPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("successive-halving", optuna.pruners.SuccessiveHalvingPruner),
        ("none", optuna.pruners.NopPruner),
    ],
)
def test_each_pruner_builds(pruner: str, cls: type) -> None:
    assert isinstance(PrunerSpec(name=pruner).resolved(objectives=1).build(max_epochs=10), cls)


@pytest.mark.parametrize("name", ["gp", "cmaes"])
def test_single_objective_samplers_refuse_two_objectives(name: str) -> None:
    with pytest.raises(ValueError, match=f"sampler.name: {name} optimises one objective"):
        SamplerSpec(name=name).resolved(objectives=2)


def test_pruning_a_pareto_front_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot prune a two-objective study"):
        PrunerSpec(name="median").resolved(objectives=2)


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (SamplerSpec, {"name": "annealing"}, "Input should be 'tpe', 'gp', 'cmaes', 'random', 'qmc', 'grid' or 'nsga2'"),
        (SamplerSpec, {"name": "random", "n_startup_trials": 5}, "n_startup_trials applies to samplers cmaes, gp, tpe"),
        (PrunerSpec, {"name": "median", "min_resource": 2}, "min_resource do not apply to pruner median"),
        (PrunerSpec, {"name": "hyperband", "reduction_factor": 1}, "greater than or equal to 2"),
    ],
)
def test_bad_options_are_refused(model: type, data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate(data)
