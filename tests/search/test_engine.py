from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from momentum_search.search import (
    REASON_ATTR,
    Dimension,
    OptunaEngine,
    PrunerSpec,
    SamplerSpec,
    SearchSpace,
    TrialPlan,
    count_trials,
)
from momentum_search.studies import Storage, open_storage
from momentum_search.trainers import TrainConfig

TASK_PARAMS = {"length": 8, "n_train": 64, "n_valid": 32, "n_test": 32}


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    # The engines run on the trial store (claims and finishes), which every open_storage gives.
    return open_storage(f"sqlite:///{tmp_path / 'engine.db'}")


def make_engine(
    space: SearchSpace,
    *,
    sampler: str = "random",
    pruner: str = "none",
    fixed: dict[str, Any] | None = None,
    epochs: int = 2,
    seeds: tuple[int, ...] = (0,),
    **pruner_options: Any,
) -> OptunaEngine:
    return OptunaEngine(
        space=space,
        plan=TrialPlan(task="adding", task_params=TASK_PARAMS, fixed=fixed or {"hidden_size": 4}, epochs=epochs, seeds=seeds),
        sampler=SamplerSpec(name=sampler),
        pruner=PrunerSpec(name=pruner, **pruner_options),
    )


def new_study(storage: Storage, name: str = "s") -> optuna.Study:
    return optuna.create_study(storage=storage, study_name=name, direction="minimize")


MOMENTUM_SPACE = SearchSpace(
    cells=("lstm", "momentum-lstm"),
    dimensions={"mu": Dimension(low=0.0, high=0.9), "s": Dimension(low=0.1, high=1.0)},
)


def test_top_up_enqueues_exactly_what_the_budget_lacks(storage: Storage) -> None:
    engine, study = make_engine(MOMENTUM_SPACE), new_study(storage)
    assert engine.top_up(study, 3) == 3
    assert engine.top_up(study, 3) == 0  # waiting trials count toward the budget
    assert engine.run(storage, "s") == 3
    assert engine.top_up(study, 5) == 2  # finished ones too
    assert count_trials(study.get_trials()).waiting == 2


def test_a_trial_records_config_curve_and_provenance(storage: Storage) -> None:
    engine, study = make_engine(MOMENTUM_SPACE, seeds=(4, 9)), new_study(storage)
    engine.top_up(study, 3)
    engine.run(storage, "s")
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for trial in trials:
        attrs = trial.user_attrs
        expected = TrainConfig(task="adding", task_params=TASK_PARAMS, hidden_size=4, epochs=2, seed=4, **trial.params).resolved()
        assert attrs["config"] == expected.model_dump(mode="json")
        assert attrs["seeds"] == [4, 9]
        assert trial.value == pytest.approx(sum(attrs["seed_values"]) / 2)
        # Intermediate values: the first seed's validation curve, step = epoch.
        assert trial.intermediate_values == dict(enumerate(attrs["seed_histories"][0], start=1))
        assert attrs["epochs_run"] == 4 and attrs["diverged"] is False and attrs[REASON_ATTR] is None
        assert attrs["version"] == __import__("momentum_search").__version__
        assert attrs["test_value"] is not None and attrs["wall_time"] > 0


def test_grid_visits_exactly_the_grid_across_launches(storage: Storage) -> None:
    space = SearchSpace(
        cells=("lstm", "momentum-lstm"),
        dimensions={"mu": Dimension(points=(0.0, 0.6)), "s": Dimension(points=(0.3, 1.0))},
    )
    engine, study = make_engine(space, sampler="grid", epochs=1), new_study(storage)
    assert engine.top_up(study, 3) == 3
    engine.run(storage, "s")
    assert engine.top_up(study, 5) == 2
    engine.run(storage, "s")
    assert engine.top_up(study, 5) == 0
    visited = sorted((sorted(t.params.items()) for t in study.get_trials()), key=str)
    assert visited == sorted((sorted(p.items()) for p in space.grid()), key=str)
    assert len(visited) == 5 and all(t.state == TrialState.COMPLETE for t in study.get_trials())


def test_a_diverged_trial_is_pruned_with_its_reason_and_the_study_goes_on(storage: Storage) -> None:
    space = SearchSpace(cells=("lstm",), dimensions={"lr": Dimension(points=(1e12, 1e-2))})
    engine = make_engine(space, sampler="grid", fixed={"hidden_size": 4, "grad_clip": 0.0, "optimizer": "sgd"}, epochs=3)
    study = new_study(storage)
    engine.top_up(study, 2)
    assert engine.run(storage, "s") == 2
    diverged, healthy = study.get_trials()
    assert diverged.params["lr"] == 1e12 and diverged.state == TrialState.PRUNED
    assert diverged.user_attrs["diverged"] is True
    assert diverged.user_attrs[REASON_ATTR].startswith("diverged: seed 0 at epoch ")
    # NaN at the epoch that diverged, so samplers rank the trial worst there.
    assert math.isnan(diverged.intermediate_values[max(diverged.intermediate_values)])
    assert healthy.state == TrialState.COMPLETE


def test_the_pruner_stops_a_hopeless_trial(storage: Storage) -> None:
    # lr 1e-9 cannot learn; the median pruner compares its first epoch with the good trial's.
    space = SearchSpace(cells=("lstm",), dimensions={"lr": Dimension(points=(3e-2, 1e-9))})
    engine = make_engine(
        space, sampler="grid", pruner="median", fixed={"hidden_size": 8}, epochs=3, seeds=(0, 1), n_startup_trials=1
    )
    study = new_study(storage)
    engine.top_up(study, 2)
    engine.run(storage, "s")
    good, hopeless = study.get_trials()
    assert good.state == TrialState.COMPLETE and len(good.user_attrs["seeds"]) == 2
    assert hopeless.state == TrialState.PRUNED
    assert hopeless.user_attrs[REASON_ATTR] == "pruned: seed 0 after epoch 1"
    assert hopeless.user_attrs["seeds"] == [0]  # the other seed never ran


def test_an_interrupted_trial_fails_and_comes_back_as_a_waiting_copy(storage: Storage) -> None:
    engine, study = make_engine(MOMENTUM_SPACE), new_study(storage)
    engine.top_up(study, 2)
    with pytest.raises(KeyboardInterrupt):
        engine.run(storage, "s", should_stop=lambda: bool(study.get_trials(states=(TrialState.RUNNING,))))
    interrupted = study.get_trials(states=(TrialState.FAIL,))
    assert len(interrupted) == 1 and interrupted[0].user_attrs[REASON_ATTR] == "interrupted"
    copy = [t for t in study.get_trials(states=(TrialState.WAITING,)) if t.params]
    assert len(copy) == 1 and copy[0].params == interrupted[0].params
    assert copy[0].system_attrs["retry_history"] == [interrupted[0].number]
    assert engine.top_up(study, 2) == 0  # budget intact: 2 waiting, 0 finished
    assert engine.run(storage, "s") == 2
    counts = count_trials(study.get_trials())
    assert (counts.finished, counts.failed, counts.pending) == (2, 1, 0)
    finished_copy = study.get_trials()[copy[0].number]
    assert finished_copy.state == TrialState.COMPLETE and finished_copy.user_attrs[REASON_ATTR] is None


def test_a_crashing_trial_fails_with_its_error_and_stops_the_worker(storage: Storage) -> None:
    engine = OptunaEngine(
        space=MOMENTUM_SPACE,
        plan=TrialPlan(task="adding", task_params={"length": 1}, epochs=1),  # length must be ≥ 2
        sampler=SamplerSpec(name="random"),
        pruner=PrunerSpec(name="none"),
    )
    study = new_study(storage)
    engine.top_up(study, 2)
    with pytest.raises(ValueError, match="length"):
        engine.run(storage, "s")
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1 and failed[0].user_attrs[REASON_ATTR].startswith("error: ValueError(")
    assert engine.top_up(study, 2) == 1  # a crash does not count toward the budget


THREE_KINDS = SearchSpace(
    cells=("lstm", "momentum-lstm", "adam-lstm"),
    dimensions={"mu": Dimension(low=0.0, high=0.9), "s": Dimension(low=0.1, high=1.0), "beta": Dimension(low=0.1, high=0.99)},
)


def test_a_baseline_runs_once_and_first_and_the_searched_kinds_share_the_rest(storage: Storage) -> None:
    # TPE: left to choose the kind it chose the leading plain cell again and again, each a twin.
    engine = make_engine(THREE_KINDS, sampler="tpe", epochs=1)
    study = new_study(storage)
    engine.top_up(study, 7)
    engine.run(storage, "s")
    trials = study.get_trials()
    assert [t.params["cell"] for t in trials] == ["lstm", *["momentum-lstm", "adam-lstm"] * 3]
    assert count_trials(trials).twins == 0 and all("reused_from" not in t.user_attrs for t in trials)
    assert {name for t in trials if t.params["cell"] == "adam-lstm" for name in t.params} == {"cell", "mu", "s", "beta"}
    # Topping up again queues no second baseline, and goes on sharing.
    engine.top_up(study, 9)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [{"cell": "momentum-lstm"}, {"cell": "adam-lstm"}]


def test_kinds_sampled_leaves_the_kind_to_the_sampler_after_the_baseline(storage: Storage) -> None:
    engine = make_engine(THREE_KINDS, sampler="tpe")
    engine.sampler = SamplerSpec(name="tpe", kinds="sampled")
    study = new_study(storage)
    engine.top_up(study, 4)
    queued = [t.system_attrs.get("fixed_params") for t in study.get_trials(states=(TrialState.WAITING,))]
    assert queued == [{"cell": "lstm"}, {}, {}, {}]
    with pytest.raises(ValueError, match="kinds: sampled does not apply to the grid sampler"):
        SamplerSpec(name="grid", kinds="sampled")


def test_a_trial_that_repeats_a_finished_one_reuses_its_result(storage: Storage) -> None:
    # Only a plain cell: after its baseline every trial the sampler draws is the same configuration.
    engine = make_engine(SearchSpace(cells=("lstm",), dimensions={}), epochs=1)
    study = new_study(storage)
    engine.top_up(study, 3)
    engine.run(storage, "s")
    trials = study.get_trials()
    assert [t.params for t in trials] == [{"cell": "lstm"}] * 3 and "reused_from" not in trials[0].user_attrs
    for twin in trials[1:]:
        assert twin.user_attrs["reused_from"] == 0
        assert twin.values == trials[0].values
        assert twin.user_attrs["seed_values"] == trials[0].user_attrs["seed_values"]
    assert count_trials(trials).twins == 2  # counted apart: they trained nothing


def test_the_pruner_never_stops_the_baseline(storage: Storage) -> None:
    engine = make_engine(MOMENTUM_SPACE, pruner="median", epochs=3, n_startup_trials=1, n_warmup_steps=0)
    study = new_study(storage)
    distributions = MOMENTUM_SPACE.distributions()
    # Three momentum trials with perfect curves: any real run is worse than their median at epoch 1.
    for mu in (0.1, 0.2, 0.3):
        study.add_trial(
            optuna.trial.create_trial(
                params={"cell": "momentum-lstm", "mu": mu, "s": 0.5},
                distributions={k: distributions[k] for k in ("cell", "mu", "s")},
                value=0.0,
                intermediate_values={1: 0.0, 2: 0.0, 3: 0.0},
            )
        )
    engine.top_up(study, 5)
    engine.run(storage, "s")
    baseline = study.trials[3]
    assert baseline.params == {"cell": "lstm"} and "reused_from" not in baseline.user_attrs
    assert baseline.state == TrialState.COMPLETE and baseline.user_attrs["epochs_run"] == 3
    assert sorted(baseline.intermediate_values) == [1, 2, 3]


def test_a_result_is_recorded_whole_or_not_at_all(storage: Storage) -> None:
    from momentum_search.search._engine import finish as _finish

    study = optuna.create_study(storage=storage)
    attrs = {"config": {"cell": "lstm"}, "seed_values": [0.5, 0.7], "reason": None}
    done = study.ask()
    assert _finish(storage, study, done, TrialState.COMPLETE, attrs, values=[0.6], curve={1: 0.9, 2: 0.6})
    assert (done_frozen := study.trials[0]).user_attrs == attrs and done_frozen.intermediate_values == {1: 0.9, 2: 0.6}

    # Another worker failed this trial as stale meanwhile: none of the late result is written.
    late = study.ask()
    storage.set_trial_state_values(storage.trial_id(study, late), TrialState.FAIL)
    assert not _finish(storage, study, late, TrialState.COMPLETE, attrs, values=[0.6])
    assert (study.trials[1].state, study.trials[1].user_attrs) == (TrialState.FAIL, {})
