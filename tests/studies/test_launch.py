from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from study_specs import tiny_spec
from optuna.trial import TrialState

from momentum_search.studies import launch, list_studies, open_storage, parse_spec, show_study


def test_training_time_as_second_objective_gives_a_pareto_front(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pareto.db'}"
    spec = parse_spec(tiny_spec("pareto", objective={"train_time": True}, budget={"trials": 6, "epochs": 1}))
    assert launch(spec, storage=url).errors == []
    trials = optuna.load_study(study_name="pareto", storage=open_storage(url)).get_trials()
    assert all(t.state == TrialState.COMPLETE and len(t.values) == 2 for t in trials)
    assert all(not t.intermediate_values for t in trials)  # Optuna cannot report multi-objective trials
    for trial in trials:
        assert trial.values == [trial.user_attrs["value_mean"], trial.user_attrs["train_time"]]
    # Reference front: the trials no other trial beats on both objectives (both minimised), each
    # configuration once (a trial that reused a twin's result is its twin).
    front = {
        t.number
        for t in trials
        if "reused_from" not in t.user_attrs
        and not any(o.values[0] <= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in trials)
    }
    summary = show_study("pareto", storage=url)
    assert {row.number for row in summary.best} == front
    assert summary.metric == "mse" and summary.directions == ["minimize", "minimize"]


def test_a_timeout_stops_starting_trials_and_a_relaunch_finishes_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'timeout.db'}"
    spec = parse_spec(tiny_spec("timed", budget={"trials": 50, "epochs": 1, "timeout": 1.0}))
    first = launch(spec, storage=url)
    counts = first.progress.counts
    assert 1 <= counts.finished < 50 and counts.waiting == 50 - counts.finished and counts.running == 0
    second = launch(spec, storage=url, timeout=3600)
    assert second.enqueued == 0 and second.progress.counts.finished == 50


def test_list_and_show_summarise_the_stored_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'summary.db'}"
    for name in ("first", "second"):
        launch(parse_spec(tiny_spec(name, budget={"trials": 3, "epochs": 1})), storage=url)
    summaries = {summary.name: summary for summary in list_studies(url)}
    assert set(summaries) == {"first", "second"}
    study = optuna.load_study(study_name="second", storage=open_storage(url))
    summary = summaries["second"]
    assert (summary.counts.finished, summary.budget, summary.task) == (3, 3, "adding")
    assert summary.best[0].number == study.best_trial.number and summary.best[0].values == [study.best_value]
    rows = show_study("second", storage=url).trials
    assert [(row.number, row.cell, row.values) for row in rows] == [
        (t.number, t.params["cell"], t.values) for t in study.get_trials()
    ]


def test_a_gain_study_records_the_searched_gain_and_the_s_that_ran(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gain.db'}"
    space = {"mu": {"low": 0.0, "high": 0.9}, "g": {"low": 0.5, "high": 4.0, "log": True}}
    spec = parse_spec(tiny_spec("gain", space=space, budget={"trials": 3, "epochs": 1}))
    assert launch(spec, storage=url).errors == []
    trials = optuna.load_study(study_name="gain", storage=open_storage(url)).get_trials()
    momentum = [t for t in trials if t.params["cell"] == "momentum-lstm"]
    assert momentum and all(t.state == TrialState.COMPLETE for t in trials)
    for trial in momentum:
        mu, g = trial.params["mu"], trial.params["g"]
        assert set(trial.params) == {"cell", "mu", "g"}
        assert trial.user_attrs["config"]["s"] == g * (1 - mu)
        assert trial.user_attrs["gain"] == pytest.approx(g)
