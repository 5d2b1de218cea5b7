"""Seed racing: a configuration earns further seeds only while it can still beat the incumbent on paired seeds."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from momentum_search.dashboards import get_mu_s_map_info, read_trials
from momentum_search.search import RacingSpec
from momentum_search.studies import SpecError, create_or_resume, launch, open_storage, parse_spec

sys.path.insert(0, str(Path(__file__).parents[1] / "studies"))
from study_specs import tiny_spec  # noqa: E402

SEEDS = 3


def test_the_mean_rule_compares_the_challenger_with_the_incumbent_on_the_same_seeds() -> None:
    race = RacingSpec()
    incumbent = {0: 2.0, 1: 2.0, 2: 100.0}  # seed 2 is not shared yet: it must not count
    assert race.loses({0: 1.0, 1: 3.0}, incumbent, direction="maximize") is None  # 2.0 vs 2.0: can still win
    reason = race.loses({0: 1.0, 1: 2.9}, incumbent, direction="maximize", against="trial 7")
    assert reason == "mean 1.95 on seeds 0, 1, worse than trial 7's 2"
    assert race.loses({0: 1.0, 1: 2.9}, incumbent, direction="minimize") is None
    assert race.loses({5: 0.0}, incumbent, direction="maximize") is None  # nothing shared, nothing to judge


def test_the_wilcoxon_rule_needs_enough_paired_seeds_to_be_sure() -> None:
    race = RacingSpec(test="wilcoxon", p=0.1)
    incumbent = {seed: 10.0 + seed for seed in range(5)}
    worse = {seed: value - 1.0 - 0.1 * seed for seed, value in incumbent.items()}
    # Three pairs all worse: the smallest one-sided p of a signed-rank test on 3 pairs is 1/8 > 0.1.
    assert race.loses({s: worse[s] for s in range(3)}, incumbent, direction="maximize") is None
    assert "Wilcoxon p < 0.1" in race.loses(worse, incumbent, direction="maximize")  # 5 pairs: p = 1/32
    assert race.loses(worse, incumbent, direction="minimize") is None


def test_racing_options_are_checked() -> None:
    with pytest.raises(ValueError, match="p applies to test wilcoxon"):
        RacingSpec(p=0.1)
    with pytest.raises(SpecError, match="needs at least 2 seeds"):
        parse_spec(tiny_spec("r", racing=True))
    with pytest.raises(SpecError, match="a Pareto front"):
        parse_spec(tiny_spec("r", racing=True, seeds=2, objective={"train_time": True}))
    spec = parse_spec(tiny_spec("r", racing=True, seeds=2))
    with pytest.raises(ValueError, match="Optuna engine only"):
        spec.ray_engine()


def _race(tmp_path: Path, incumbent: list[float]) -> tuple[list[optuna.trial.FrozenTrial], int]:
    """A raced study whose first trial is an incumbent of known strength: its seeds scored ``incumbent``."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    storage = open_storage(url)
    # A configuration, as the engine stores it, to copy the incumbent from.
    launch(parse_spec(tiny_spec("template", cells=["momentum-lstm"], budget={"trials": 1, "epochs": 1})), storage=url)
    template = optuna.load_study(study_name="template", storage=storage).get_trials()[0]
    spec = parse_spec(tiny_spec("race", cells=["momentum-lstm"], seeds=SEEDS, racing=True, budget={"trials": 5, "epochs": 1}))
    study, _ = create_or_resume(storage, spec)
    attrs = {**template.user_attrs, "seeds": list(range(SEEDS)), "seed_values": incumbent}
    study.add_trial(
        create_trial(
            params=template.params, distributions=template.distributions, user_attrs=attrs, value=statistics.fmean(incumbent)
        )
    )
    assert launch(spec, storage=url).errors == []
    return optuna.load_study(study_name="race", storage=storage).get_trials(), 0


def test_a_configuration_worse_on_paired_seeds_stops_earning_seeds(tmp_path: Path) -> None:
    trials, incumbent = _race(tmp_path, [0.0] * SEEDS)  # mse 0 on every seed: nobody can beat it
    assert len(trials) == 5 and all(t.state.is_finished() for t in trials)  # the budget, exactly
    for trial in trials[incumbent + 1 :]:
        assert trial.state == TrialState.PRUNED
        assert trial.user_attrs["seeds"] == [0] and len(trial.user_attrs["seed_values"]) == 1
        assert trial.user_attrs["reason"].startswith("raced: mean ") and f"trial {incumbent}'s 0" in trial.user_attrs["reason"]
        assert trial.user_attrs["epochs_run"] == 1  # the first seed's epochs, nothing more
    most = max(len(t.user_attrs["seed_values"]) for t in trials)
    assert len(trials[incumbent].user_attrs["seed_values"]) == most == SEEDS
    # The figures draw the raced configurations too, each with the one seed behind it; the best is the incumbent.
    records = read_trials(optuna.load_study(study_name="race", storage=open_storage(f"sqlite:///{tmp_path / 'race.db'}")))
    figure = get_mu_s_map_info(records, "momentum-lstm")
    assert {p.number: p.seeds for p in figure.points} == {0: SEEDS, **{t.number: 1 for t in trials[incumbent + 1 :]}}
    assert figure.best.number == incumbent


def test_a_configuration_that_keeps_up_earns_every_seed_and_becomes_the_incumbent(tmp_path: Path) -> None:
    trials, incumbent = _race(tmp_path, [1e6] * SEEDS)  # an incumbent everyone beats
    assert len(trials) == 5
    first = trials[incumbent + 1]
    assert first.state == TrialState.COMPLETE and first.user_attrs["seeds"] == list(range(SEEDS))
    assert first.values[0] == pytest.approx(statistics.fmean(first.user_attrs["seed_values"]))
    # Later challengers race the new incumbents; each raced one lost to a complete trial on the seeds it ran.
    for trial in trials[incumbent + 2 :]:
        seeds, values = trial.user_attrs["seeds"], trial.user_attrs["seed_values"]
        if trial.state == TrialState.COMPLETE:
            assert seeds == list(range(SEEDS))
            continue
        winner = trials[int(trial.user_attrs["reason"].split("worse than trial ")[1].split("'")[0])]
        assert winner.state == TrialState.COMPLETE and winner.number not in (incumbent, trial.number)
        theirs = statistics.fmean(winner.user_attrs["seed_values"][: len(seeds)])
        assert len(seeds) < SEEDS and statistics.fmean(values) > theirs  # mse: larger is worse
