"""A study of the user's own training loop (`objective: "pkg.mod:train"`, here `examples/own_loop.py`):
launch, confirm, plot, export, retrain, on both engines; and what happens when the user's code fails."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from momentum_search.cli import app
from momentum_search.studies import launch, parse_spec
from round_trip import round_trip, write_spec
from momentum_search.trainers import TrainConfig, UserObjective, train

EXAMPLES = Path(__file__).parents[2] / "examples"
runner = CliRunner()

FLAKY = '''
def train(trial):
    """lstm trains (a number from its hyperparameters), momentum-lstm raises, adam-lstm returns text."""
    trial.report(1, 0.5)
    if trial.kind == "momentum-lstm":
        raise RuntimeError("boom")
    if trial.kind == "adam-lstm":
        return "oops"
    return 1.0 + trial.seed


def pruned(trial):
    for epoch in range(1, 4):
        trial.report(epoch, float(epoch))
    return 99.0


def by_lr(trial):
    """Its learning rate at every epoch: a grid's smaller lr is plainly the worse trial."""
    for epoch in range(1, 4):
        trial.report(epoch, trial.config.lr)
    return trial.config.lr
'''


@pytest.fixture
def user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`examples/` and a module `flaky_loop` importable here and in the workers this test starts."""
    (tmp_path / "flaky_loop.py").write_text(FLAKY)
    path = f"{EXAMPLES}:{tmp_path}"
    monkeypatch.setenv("PYTHONPATH", path)
    for folder in path.split(":"):
        monkeypatch.syspath_prepend(folder)
    yield tmp_path
    sys.modules.pop("flaky_loop", None)


def loop_spec(name: str, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((EXAMPLES / "own-loop.yaml").read_text())
    spec.update(
        name=name,
        cells=["lstm", "momentum-lstm"],
        space={"mu": {"low": 0.0, "high": 0.9}},
        fixed={"hidden_size": 4, "batch_size": 128, "lr": 0.02},
        budget={"trials": 4, "epochs": 2},
        sampler={"name": "random", "seed": 0},
        pruner={"name": "none"},
        confirm={"top": 1, "seeds": 2},
    )
    spec.update(changes)
    return spec


def loop_round_trip(tmp_path: Path, name: str, *options: str) -> optuna.Study:
    study, document, _ = round_trip(tmp_path, loop_spec(name), *options)
    assert max(t.value for t in study.trials if t.value is not None) > 20  # the digits are learnt (chance: 10 %)
    assert document["config"]["objective"] == {"function": "own_loop:train", "metric": "accuracy", "direction": "maximize"}
    return study


def test_your_own_loop_launches_on_two_workers_confirms_plots_exports_and_retrains(user_code: Path, tmp_path: Path) -> None:
    study = loop_round_trip(tmp_path, "loop", "--workers", "2")
    assert study.user_attrs["spec"]["task"] == "objective" and study.metric_names == ["accuracy"]


@pytest.fixture
def ray_runtime(user_code: Path) -> Iterator[None]:
    """A local Ray runtime started after PYTHONPATH names the user's code, as a user starts one."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


@pytest.mark.xdist_group("ray")  # one Ray runtime at a time (see pyproject.toml: --dist loadgroup)
def test_your_own_loop_on_ray(ray_runtime: None, tmp_path: Path) -> None:
    study = loop_round_trip(tmp_path, "loop-ray", "--engine", "ray")
    assert {t.user_attrs["engine"] for t in study.trials} == {"ray"}
    # report() reaches Ray's scheduler as the trainer's epochs do: two grid points one after the other
    # (2 CPUs a trial), and ASHA stops the worse after its first epoch.
    spec = loop_spec(
        "asha",
        objective={"function": "flaky_loop:by_lr", "metric": "lr", "direction": "maximize"},
        cells=["lstm"],
        space={"lr": {"points": [0.03, 0.0001]}},
        fixed={},
        sampler={"name": "grid"},
        scheduler={"name": "asha", "reduction_factor": 2},
        confirm=None,
        budget={"epochs": 3},
    )
    url = f"sqlite:///{tmp_path / 'asha.db'}"
    result = launch(parse_spec(spec), storage=url, engine="ray", cpus_per_trial=2, poll_interval=0.2)
    assert (result.errors, result.progress.counts.complete, result.progress.counts.pruned) == ([], 1, 1)
    complete, pruned = optuna.load_study(study_name="asha", storage=url).get_trials()
    assert (complete.value, complete.intermediate_values) == (0.03, {1: 0.03, 2: 0.03, 3: 0.03})
    assert (pruned.state, pruned.intermediate_values) == (optuna.trial.TrialState.PRUNED, {1: 0.0001})
    assert pruned.user_attrs["reason"] == "pruned: seed 0 after epoch 1"


def test_a_failing_objective_fails_its_trial_with_the_reason_and_the_study_goes_on(user_code: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flaky.db'}"
    spec = loop_spec(
        "flaky",
        objective="flaky_loop:train",
        cells=["lstm", "momentum-lstm", "adam-lstm"],
        space={"mu": {"low": 0.0, "high": 0.9}},
        budget={"trials": 5},
        confirm=None,
    )
    runner.invoke(app, ["launch", write_spec(tmp_path, spec), "--storage", url])
    study = optuna.load_study(study_name="flaky", storage=url)
    states = {t.number: (t.user_attrs.get("config", {}).get("cell") or t.params.get("cell"), t.state.name) for t in study.trials}
    assert len(states) == 5 and sum(state == "COMPLETE" for _, state in states.values()) >= 1
    reasons = {t.user_attrs.get("reason") for t in study.trials if t.state == optuna.trial.TrialState.FAIL}
    assert reasons == {
        "error: objective flaky_loop:train raised RuntimeError: boom",
        "error: objective flaky_loop:train returned 'oops', not a number",
    }


def test_report_prunes_and_the_loop_ends_as_stopped(user_code: Path) -> None:
    objective = UserObjective(function="flaky_loop:pruned", direction="maximize")
    result = train(TrainConfig(task="objective", objective=objective), on_epoch=lambda epoch, value: epoch == 2)
    assert (result.stopped, result.history, result.best_value) == (True, (1.0, 2.0), 2.0)
    assert train(TrainConfig(task="objective", objective=objective)).best_value == 99.0


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        (
            "no_such_module:train",
            "objective no_such_module:train: cannot import no_such_module: No module named 'no_such_module'",
        ),
        ("own_loop:nothing", "objective own_loop:nothing: module own_loop has no 'nothing'"),
        ("not a function", "objective.function: expected package.module:function, got 'not a function'"),
    ],
)
def test_an_objective_that_does_not_import_is_one_line_and_nothing_written(
    user_code: Path, tmp_path: Path, objective: str, message: str
) -> None:
    store = tmp_path / "none.db"
    result = runner.invoke(
        app, ["launch", write_spec(tmp_path, loop_spec("none", objective=objective)), "--storage", f"sqlite:///{store}"]
    )
    assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not store.exists()


def test_an_objective_brings_its_own_data(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["launch", write_spec(tmp_path, loop_spec("both", task="digits")), "--storage", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert (
        result.exit_code == 1
        and "task: an objective function brings its own data and training loop; leave task out" in result.stderr
    )
