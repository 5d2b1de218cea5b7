"""The Ray Tune engine on a real local Ray runtime: the same study, in the same SQL storage, as on Optuna."""

from __future__ import annotations

import json
import logging
import math
import socket
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import ray
from optuna.trial import FrozenTrial, TrialState
from typer.testing import CliRunner

from momentum_search.cli import app
from momentum_search.search import CELL_PARAMETER, Dimension, SamplerSpec, SchedulerSpec, SearchSpace
from momentum_search.studies import (
    Progress,
    StudySpec,
    create_or_resume,
    launch,
    open_storage,
    parse_spec,
    run_worker,
)

# One Ray runtime at a time: every Ray test runs on one pytest-xdist worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

TASK_PARAMS = {"length": 10, "n_train": 128, "n_valid": 64, "n_test": 64}
# Two grid points, the second hopeless (lr 1e-4): run one after the other, ASHA (rungs at epochs 1
# and 2) compares the second with the first after its first epoch and stops it.
GRID_SPEC: dict[str, Any] = {
    "name": "grid",
    "task": "adding",
    "task_params": TASK_PARAMS,
    "cells": ["momentum-lstm"],
    "space": {"lr": {"points": [0.03, 0.0001]}},
    "fixed": {"hidden_size": 8, "batch_size": 32},
    "budget": {"epochs": 3},
    "seeds": 2,
    "sampler": {"name": "grid"},
    "pruner": {"name": "none"},
    "scheduler": {"name": "asha", "reduction_factor": 2},
}


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[None]:
    """One local Ray runtime for the module (per pytest-xdist worker that runs its tests)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


def load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url))


def curve(trial: FrozenTrial) -> dict[int, float]:
    """The first seed's validation metric per epoch, as the trial recorded it."""
    return dict(enumerate(trial.user_attrs["seed_histories"][0], start=1))


# One test for the grid study on both engines: with pytest-xdist, tests sharing a module fixture may
# run on different workers, each building the fixture, and this one trains a study twice.
def test_a_study_on_ray_is_the_same_study_as_on_optuna(ray_runtime: None, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    progress: list[Progress] = []
    # 2 CPUs per trial: one trial at a time, so ASHA's decision does not depend on timing.
    result = launch(
        parse_spec(GRID_SPEC),
        study="grid-ray",
        storage=url,
        engine="ray",
        cpus_per_trial=2,
        on_progress=progress.append,
        poll_interval=0.2,
    )
    # The same spec on Optuna: one worker with 2 threads, so both train every configuration identically.
    on_optuna = parse_spec({**GRID_SPEC, "name": "grid-optuna"})
    study, _ = create_or_resume(open_storage(url), on_optuna)
    on_optuna.engine().top_up(study, on_optuna.trials)
    run_worker("grid-optuna", storage=url, threads=2)

    # Ray's trials are in the SQL store, complete and pruned, with their learning curves.
    assert (result.engine, result.errors, result.interrupted) == ("ray", [], False)
    assert (result.workers, result.threads, result.enqueued) == (1, 2, 2)  # one trial at a time × 2 CPUs
    assert (result.progress.counts.complete, result.progress.counts.pruned, result.progress.counts.failed) == (1, 1, 0)
    trials = load(url, "grid-ray").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert [t.params for t in trials] == [{CELL_PARAMETER: "momentum-lstm", "lr": lr} for lr in (0.03, 0.0001)]
    for trial in trials:
        attrs = trial.user_attrs
        assert trial.intermediate_values == curve(trial)  # the learning curve, step = epoch
        assert attrs["engine"] == "ray" and attrs["config"]["lr"] == trial.params["lr"]
        assert attrs["config"]["threads"] == 2  # torch threads = CPUs per trial
    complete, pruned = trials
    assert complete.user_attrs["reason"] is None and complete.user_attrs["seeds"] == [0, 1]
    assert [len(history) for history in complete.user_attrs["seed_histories"]] == [3, 3]
    assert complete.value == pytest.approx(statistics.fmean(complete.user_attrs["seed_values"]))
    # Stopped by ASHA after its first epoch: the second seed never ran.
    assert pruned.user_attrs["reason"] == "pruned: seed 0 after epoch 1"
    assert list(pruned.intermediate_values) == [1] and len(pruned.user_attrs["seed_histories"]) == 1
    assert pruned.value == pruned.intermediate_values[1]
    # The progress view saw the running trials, by their numbers in the study.
    running = [trial for update in progress for trial in update.running]
    assert running and {trial.number for trial in running} <= {0, 1}
    assert progress[-1].counts.finished == 2 and not progress[-1].running

    # `studies list` and `studies show` show both studies side by side.
    runner = CliRunner()
    storage = ["--storage", url]
    listed = runner.invoke(app, ["studies", "list", "--json", *storage])
    assert listed.exit_code == 0, listed.output
    summaries = {item["name"]: item for item in json.loads(listed.stdout)}
    assert {name: (item["counts"]["finished"], item["budget"]) for name, item in summaries.items()} == {
        "grid-optuna": (2, 2),
        "grid-ray": (2, 2),
    }
    for name in ("grid-optuna", "grid-ray"):
        shown = runner.invoke(app, ["studies", "show", name, *storage])
        assert shown.exit_code == 0 and name in shown.stdout and "momentum-lstm" in shown.stdout

    # Same configuration, seeds and threads: the same numbers, to the last digit.
    on_optuna_trials = {t.params["lr"]: t for t in load(url, "grid-optuna").get_trials()}
    twin = on_optuna_trials[complete.params["lr"]]
    assert complete.values == twin.values
    for key in ("seed_histories", "seed_test_values", "test_value", "config"):
        assert complete.user_attrs[key] == twin.user_attrs[key], key
    # The pruned one (Optuna's study has no pruner): the start of the same curve.
    twin = on_optuna_trials[pruned.params["lr"]]
    assert curve(pruned) == {epoch: curve(twin)[epoch] for epoch in curve(pruned)}

    # The budget is spent: launching again runs nothing.
    again = launch(study="grid-ray", storage=url, engine="ray", cpus_per_trial=2)
    assert (again.enqueued, again.progress.counts.finished, again.errors) == (0, 2, [])
    assert len(load(url, "grid-ray").get_trials()) == 2


def test_baselines_run_to_the_end_and_twins_copy_their_result(ray_runtime: None, tmp_path: Path) -> None:
    def spec(name: str, cells: list[str], space: dict[str, Any]) -> StudySpec:
        return parse_spec(
            {
                "name": name,
                "task": "adding",
                "task_params": TASK_PARAMS,
                "cells": cells,
                "space": space,
                "fixed": {"hidden_size": 8, "batch_size": 32},
                "budget": {"trials": 4, "epochs": 2},
                "sampler": {"name": "random", "seed": 1},
                "scheduler": {"name": "asha", "reduction_factor": 2},
            }
        )

    url = f"sqlite:///{tmp_path / 'baselines.db'}"
    # The baseline is queued first, runs once and is never stopped by ASHA; the searched kind gets the rest.
    assert (
        launch(
            spec("baselines", ["lstm", "momentum-lstm"], {"mu": {"low": 0.0, "high": 0.9}}),
            storage=url,
            engine="ray",
            cpus_per_trial=2,
        ).errors
        == []
    )
    trials = load(url, "baselines").get_trials()
    assert [trial.params[CELL_PARAMETER] for trial in trials] == ["lstm", *["momentum-lstm"] * 3]
    assert trials[0].state == TrialState.COMPLETE and list(trials[0].intermediate_values) == [1, 2]
    # With only a plain cell every trial is the same configuration: one asked after the first completed
    # copies it; one asked before (Ray asks ahead) trains it again.
    assert launch(spec("plain", ["lstm"], {}), storage=url, engine="ray", cpus_per_trial=2).errors == []
    first, *later = load(url, "plain").get_trials()
    assert "reused_from" not in first.user_attrs and all(t.state == TrialState.COMPLETE for t in later)
    twins = [t for t in later if "reused_from" in t.user_attrs]
    assert twins and all(t.user_attrs["reused_from"] == 0 for t in twins)
    assert all(t.values == first.values and t.intermediate_values == first.intermediate_values for t in twins)


def test_population_based_training_records_each_members_mu_s_schedule(ray_runtime: None, tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "name": "pbt",
            "task": "adding",
            "task_params": TASK_PARAMS,
            "cells": ["momentum-lstm"],
            "space": {"mu": {"low": 0.0, "high": 0.9}, "s": {"low": 0.1, "high": 1.0, "log": True}},
            "fixed": {"hidden_size": 8, "batch_size": 32},
            "budget": {"trials": 4, "epochs": 4},
            "sampler": {"name": "random", "seed": 0},
            "scheduler": {"name": "pbt", "perturbation_interval": 1},
        }
    )
    url = f"sqlite:///{tmp_path / 'pbt.db'}"
    progress: list[Progress] = []
    result = launch(spec, storage=url, engine="ray", on_progress=progress.append, poll_interval=0.2)
    assert (result.errors, result.enqueued, result.progress.counts.complete) == ([], 0, 4)

    trials = load(url, "pbt").get_trials()
    schedules = [trial.user_attrs["schedule"] for trial in trials]
    for trial, schedule in zip(trials, schedules, strict=True):
        assert trial.state == TrialState.COMPLETE
        assert [len(schedule["mu"]), len(schedule["s"])] == [4, 4]  # the μ, s of every epoch
        assert all(0.0 <= mu <= 0.9 for mu in schedule["mu"]) and all(0.1 <= s <= 1.0 for s in schedule["s"])
        # Stored with the values it ended with, which are the config it trained last.
        assert (trial.params["mu"], trial.params["s"]) == (schedule["mu"][-1], schedule["s"][-1])
        config = trial.user_attrs["config"]
        assert (config["mu"], config["s"]) == (trial.params["mu"], trial.params["s"])
        assert trial.intermediate_values == curve(trial) and len(curve(trial)) == 4
    # At every interval the worst member copies the best and perturbs μ, s: some schedule changes.
    assert any(len(set(schedule["mu"])) > 1 or len(set(schedule["s"])) > 1 for schedule in schedules)
    # Members are in the study only once they end; the progress view showed them running meanwhile.
    assert any(trial.number is None for p in progress for trial in p.running)


def test_a_failing_trial_ends_failed_with_its_error_and_a_diverging_one_pruned(ray_runtime: None, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'early.db'}"
    base = {"task": "adding", "task_params": TASK_PARAMS, "cells": ["lstm"], "budget": {"trials": 1, "epochs": 2}}
    # Tensors on the meta device have no values: the first use of the model (measuring its gradient flow) raises.
    fails = parse_spec({**base, "name": "fails", "fixed": {"hidden_size": 4, "device": "meta"}})
    result = launch(fails, storage=url, engine="ray")
    assert result.errors == ["trial 0: NotImplementedError('Cannot copy out of meta tensor; no data!')"]
    assert result.progress.counts.finished == 0 and not result.interrupted
    (failed,) = load(url, "fails").get_trials()
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["reason"] == "error: NotImplementedError('Cannot copy out of meta tensor; no data!')"

    # Plain SGD at lr 1e6, gradients unclipped, overflows in its second epoch.
    fixed = {"hidden_size": 8, "optimizer": "sgd", "lr": 1e6, "grad_clip": 0}
    diverges = parse_spec({**base, "name": "diverges", "fixed": fixed})
    assert launch(diverges, storage=url, engine="ray").errors == []
    (pruned,) = load(url, "diverges").get_trials()
    assert pruned.state == TrialState.PRUNED and pruned.user_attrs["reason"] == "diverged: seed 0 at epoch 2"
    # As on Optuna: NaN at the epoch that diverged, which ranks the trial worst among those stopped there.
    assert list(pruned.intermediate_values) == [1, 2] and math.isnan(pruned.intermediate_values[2])
    assert pruned.user_attrs["diverged"] is True and len(curve(pruned)) == 1


def test_training_time_as_second_objective_on_ray(ray_runtime: None, tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "name": "pareto",
            "task": "adding",
            "task_params": TASK_PARAMS,
            "cells": ["lstm", "momentum-lstm"],
            "space": {"mu": {"low": 0.0, "high": 0.9}},
            "fixed": {"hidden_size": 4},
            "budget": {"trials": 2, "epochs": 1},
            "objective": {"train_time": True},
        }
    )
    assert spec.scheduler.name == "none"  # no scheduler ranks trials on two objectives
    url = f"sqlite:///{tmp_path / 'pareto.db'}"
    result = launch(spec, storage=url, engine="ray")
    assert result.errors == []
    trials = load(url, "pareto").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:
        assert trial.values == [trial.user_attrs["value_mean"], trial.user_attrs["train_time"]]
        assert trial.intermediate_values == {}  # Optuna keeps no curve for two objectives ...
        assert len(curve(trial)) == 1  # ... the attrs do


# ---- checks that need no Ray runtime ------------------------------------------------------------


MOMENTUM = SearchSpace(cells=("lstm", "momentum-lstm"), dimensions={"mu": Dimension(low=0.0, high=0.9)})


def test_scheduler_defaults_and_what_pbt_needs() -> None:
    assert SchedulerSpec().resolved(objectives=1).name == "asha"
    assert SchedulerSpec().resolved(objectives=2).name == "none"
    with pytest.raises(ValueError, match="with two objectives use none"):
        SchedulerSpec(name="pbt").resolved(objectives=2)
    with pytest.raises(ValueError, match="do not apply to scheduler asha"):
        SchedulerSpec(name="asha", perturbation_interval=2)
    random = SamplerSpec(name="random")
    pbt = SchedulerSpec(name="pbt")
    pbt.check(space=MOMENTUM, sampler=random, seeds=(0,), epochs=4)
    cases = [
        ({"space": SearchSpace(cells=("lstm",))}, "search at least one of them"),
        ({"seeds": (0, 1)}, "one seed per population member"),
        ({"sampler": SamplerSpec(name="tpe")}, "set sampler.name to random, not tpe"),
        ({"timeout": 60.0}, "does not apply to scheduler pbt"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            pbt.check(**{"space": MOMENTUM, "sampler": random, "seeds": (0,), "epochs": 4, **change})
    with pytest.raises(ValueError, match="grace_period: 5 exceeds the 4 epochs"):
        SchedulerSpec(name="asha", grace_period=5).check(space=MOMENTUM, sampler=random, seeds=(0,), epochs=4)


def test_ray_options_belong_to_the_ray_engine(tmp_path: Path) -> None:
    spec = parse_spec({**GRID_SPEC, "name": "options"})
    url = f"sqlite:///{tmp_path / 'options.db'}"
    with pytest.raises(ValueError, match="cpus_per_trial: only for engine ray"):
        launch(spec, storage=url, cpus_per_trial=2)
    with pytest.raises(ValueError, match="workers: only for engine optuna"):
        launch(spec, storage=url, engine="ray", workers=2)
    with pytest.raises(ValueError, match="cpus_per_trial must be ≥ 1"):
        launch(spec, storage=url, engine="ray", cpus_per_trial=0)
    assert optuna.get_all_study_names(open_storage(url)) == []  # checked before anything was written


def test_an_unreachable_cluster_fails_at_once_and_writes_nothing(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens at: bound, never listening
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
        result = CliRunner().invoke(
            app,
            [
                "launch",
                "--preset",
                "quickstart",
                "--storage",
                f"sqlite:///{tmp_path / 'none.db'}",
                "--engine",
                "ray",
                "--ray-address",
                address,
            ],
        )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"error: cannot reach the Ray cluster at {address}: Connection refused"]
    assert list(tmp_path.iterdir()) == []
