"""Reading only what a command needs: SQL aggregates and partial reads agree with Optuna's full read,
on SQLite, PostgreSQL and MariaDB, and the public-API fallback gives the same answers."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from study_specs import tiny_spec

from momentum_search.search import SUMMARY_ATTRS, evaluation_attrs
from momentum_search.studies import (
    create_or_resume,
    list_studies,
    open_storage,
    parse_spec,
    query_trials,
    show_study,
    study_aggregates,
)
from momentum_search.studies import _lifecycle, _storage


def _attrs(values: list[float], **extra: Any) -> dict[str, Any]:
    mean = sum(values) / len(values)
    return {"seeds": list(range(len(values))), "seed_values": values, "value_mean": mean, "value_std": 0.01,
            "test_value": mean + 1, "epochs_run": 2 * len(values), "wall_time": 0.5, "train_time": 0.25,
            "seed_histories": [[v + 1, v] for v in values], "config": {"cell": "x"}, "reason": None, **extra}  # fmt: skip


def _study(url: str, name: str, **changes: Any) -> optuna.Study:
    """A study of every kind of trial the engines store: complete, a twin, pruned, raced, failed, waiting."""
    spec = parse_spec(tiny_spec(name, budget={"trials": 20, "epochs": 2}, **changes))
    study, _ = create_or_resume(open_storage(url), spec)
    distributions = spec.search_space().distributions()
    two = len(study.directions) > 1

    def add(state: TrialState, values: list[float], mu: float, **extra: Any) -> None:
        params = {"cell": "momentum-lstm", "mu": mu, "s": 0.5}
        mean = sum(values) / len(values)
        study.add_trial(optuna.trial.create_trial(
            state=state, values=([mean, 10 * mu] if two else [mean]) if state == TrialState.COMPLETE else None,
            params=params, distributions={k: distributions[k] for k in params}, user_attrs=_attrs(values, **extra),
            system_attrs={"fixed_params": params}, intermediate_values={} if two else {1: mean + 1, 2: mean},
        ))  # fmt: skip

    add(TrialState.COMPLETE, [0.30, 0.32], 0.1)
    add(TrialState.COMPLETE, [0.20, 0.22], 0.2)  # the best mse
    add(TrialState.COMPLETE, [0.20, 0.22], 0.2, reused_from=1)  # its twin: same parameters, same value
    add(TrialState.COMPLETE, [0.50, 0.52], 0.0)
    add(TrialState.PRUNED, [0.9], 0.3, reason="pruned: seed 0 after epoch 1")
    add(TrialState.PRUNED, [0.1], 0.4, reason="raced: mean 0.1 on seeds 0, worse than trial 1's")
    add(TrialState.FAIL, [1.0], 0.5, reason="error: boom")
    study.enqueue_trial({"cell": "lstm"})
    return study


@pytest.fixture
def studies_here(storage_url: str, study_name: str) -> tuple[str, str, str]:
    _study(storage_url, study_name)
    _study(storage_url, study_name + "-two", objective={"train_time": True})
    return storage_url, study_name, study_name + "-two"


def _full(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)


def _same(a: list[optuna.trial.FrozenTrial], b: list[optuna.trial.FrozenTrial]) -> None:
    fields = ("number", "state", "values", "params", "distributions", "user_attrs", "system_attrs", "intermediate_values")
    assert [[getattr(t, f) for f in fields] for t in a] == [[getattr(t, f) for f in fields] for t in b]


def test_aggregates_agree_with_a_full_read(studies_here: tuple[str, str, str]) -> None:
    url, *names = studies_here
    storage = open_storage(url)
    for aggregates in (study_aggregates(storage), _storage._public_aggregates(storage)):
        found = {a.name: a for a in aggregates}
        for name in names:
            trials = _full(url, name)
            assert found[name].states == dict(Counter(t.state.name for t in trials))
            assert found[name].best_value == min(t.values[0] for t in trials if t.state == TrialState.COMPLETE)
            assert found[name].directions == tuple(d.name.lower() for d in optuna.load_study(study_name=name, storage=storage).directions)
        assert found[names[0]].states == {"COMPLETE": 4, "PRUNED": 2, "FAIL": 1, "WAITING": 1}


def test_partial_reads_are_the_full_read_filtered(studies_here: tuple[str, str, str]) -> None:
    url, name, _ = studies_here
    storage = open_storage(url)
    study_id = storage.get_study_id_from_name(name)
    full = _full(url, name)
    for read in (query_trials, _public):
        _same(read(storage, study_id), full)
        only = read(storage, study_id, numbers=[1, 4], user_attrs=("seeds", "reason"), system_attrs=(), curves=False)
        assert [t.number for t in only] == [1, 4]
        assert [t.user_attrs for t in only] == [{k: full[n].user_attrs[k] for k in ("seeds", "reason")} for n in (1, 4)]
        assert all(t.system_attrs == {} and t.intermediate_values == {} for t in only)
        assert [t.number for t in read(storage, study_id, states=("PRUNED", "FAIL"))] == [4, 5, 6]
        assert [t.number for t in read(storage, study_id, best_value=full[1].values[0])] == [1, 2]


def _public(storage: Any, study_id: int, **only: Any) -> list[optuna.trial.FrozenTrial]:
    return _storage._filtered(storage.get_all_trials(study_id, deepcopy=False), **only)


def test_list_and_show_agree(studies_here: tuple[str, str, str]) -> None:
    url, name, two = studies_here
    listed = {s.name: s for s in list_studies(url)}
    for study in (name, two):
        shown = show_study(study, storage=url)
        assert listed[study].to_json(with_trials=False) == shown.to_json(with_trials=False)
    # The best trial once (its twin left out); the Pareto front of the two-objective study likewise.
    assert [row.number for row in listed[name].best] == [1]
    front = optuna.load_study(study_name=two, storage=open_storage(url)).best_trials
    assert [row.number for row in listed[two].best] == [t.number for t in front if "reused_from" not in t.user_attrs] == [0, 1, 3]
    assert listed[name].confirmation.with_role("top 1").candidate.source == 1
    assert not listed[name].confirmation.with_role("top 1").confirmed


def test_show_summarises_a_large_study(studies_here: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    url, name, _ = studies_here
    assert show_study(name, storage=url).omitted == 0
    monkeypatch.setattr(_lifecycle, "SHOW_ALL_UP_TO", 5)
    monkeypatch.setattr(_lifecycle, "SHOW_TOP", 3)
    summary = show_study(name, storage=url)
    # The best three by value, twins left out; the raced trial's mean over its one seed counts.
    assert [row.number for row in summary.trials] == [5, 1, 0]
    assert summary.omitted == 8 - 3 and summary.counts.finished == 6
    assert len(show_study(name, storage=url, all_trials=True).trials) == 8


def test_the_cli_says_what_show_left_out_and_how_many_seeds_stand_behind_a_value(
    studies_here: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from momentum_search.cli import _render, app

    url, name, _ = studies_here
    runner = CliRunner()
    monkeypatch.setattr(_render.console, "width", 250)  # the console took its width when first imported
    listed = runner.invoke(app, ["studies", "list", "--storage", url])
    assert listed.exit_code == 0, listed.output
    assert "0.21 (search, 2 seeds, not confirmed)" in listed.stdout
    shown = runner.invoke(app, ["studies", "show", name, "--storage", url])
    assert "mse 0.21 ± 0.01 (2 seeds, test 1.21)" in shown.stdout and "best 3 of" not in shown.stdout, shown.stdout
    rows = json.loads(runner.invoke(app, ["studies", "show", name, "--json", "--storage", url]).stdout)["trials"]
    assert [row["seeds"] for row in rows] == [2, 2, 2, 2, 1, 1, 1, 0]  # the waiting trial trained none

    monkeypatch.setattr(_lifecycle, "SHOW_ALL_UP_TO", 5)
    monkeypatch.setattr(_lifecycle, "SHOW_TOP", 3)
    summarised = runner.invoke(app, ["studies", "show", name, "--storage", url]).stdout
    assert "best 3 of 8 trials (--all lists every one)" in summarised
    every = json.loads(runner.invoke(app, ["studies", "show", name, "--all", "--json", "--storage", url]).stdout)
    assert len(every["trials"]) == 8 and every["omitted"] == 0


def test_show_reads_only_the_summary_attrs(studies_here: tuple[str, str, str]) -> None:
    url, name, _ = studies_here
    storage = open_storage(url)
    trials = query_trials(storage, storage.get_study_id_from_name(name), user_attrs=SUMMARY_ATTRS, curves=False)
    assert all(set(t.user_attrs) <= set(SUMMARY_ATTRS) for t in trials)
    assert "seed_histories" not in trials[0].user_attrs and "seeds" in trials[0].user_attrs


def test_engines_write_the_same_attrs_as_before() -> None:
    # The keys a finished trial carries, in the order the engines always wrote them.
    from momentum_search.search import Evaluation, TrialPlan
    from momentum_search.trainers import TrainResult

    plan = TrialPlan(task="adding", epochs=2, seeds=(0, 1))
    results = tuple(TrainResult(best_value=v, best_epoch=1, test_value=v + 1, epochs_run=2, wall_time=0.5, diverged=False,
                                stopped=False, history=(v + 1, v), metric="mse", direction="minimize",
                                config=plan.config({"cell": "momentum-lstm"}, seed=seed))
                    for seed, v in enumerate((0.2, 0.4)))  # fmt: skip
    attrs = evaluation_attrs(Evaluation(results=results, seeds=plan.seeds))
    assert list(attrs) == ["config", "gain", "seeds", "seed_values", "seed_test_values", "seed_best_epochs", "seed_histories",
                           "seed_learned", "seed_wall_times", "gradient_flow", "value_mean", "value_std", "test_value",
                           "metric", "epochs_run", "wall_time", "train_time", "diverged", "version"]  # fmt: skip
    assert attrs["seed_values"] == [0.2, 0.4] and attrs["value_mean"] == pytest.approx(0.3) and attrs["epochs_run"] == 4
