"""Reading only what a command needs: SQL aggregates and partial reads agree with Optuna's full read,
on SQLite, PostgreSQL and MariaDB, and the public-API fallback gives the same answers."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from study_specs import tiny_spec

from momentum_search.search import STANDING_ATTRS, STANDING_PARAMS, SUMMARY_ATTRS, best_trials, evaluation_attrs, ranked
from momentum_search.studies import (
    create_or_resume,
    export_study,
    list_studies,
    load_study,
    open_storage,
    parse_spec,
    query_trials,
    read_confirmation,
    resolve_url,
    select_trials,
    show_study,
    study_aggregates,
    trial_records,
)
from momentum_search.store import PUBLIC_API_ENV, _queries
from momentum_search.studies import _confirm, _export, _summary


def _attrs(values: list[float], **extra: Any) -> dict[str, Any]:
    mean = sum(values) / len(values)
    return {
        "seeds": list(range(len(values))),
        "seed_values": values,
        "value_mean": mean,
        "value_std": 0.01,
        "test_value": mean + 1,
        "epochs_run": 2 * len(values),
        "wall_time": 0.5,
        "train_time": 0.25,
        "seed_histories": [[v + 1, v] for v in values],
        "config": {"cell": "x"},
        "reason": None,
        **extra,
    }


def _study(url: str, name: str, **changes: Any) -> optuna.Study:
    """A study of every kind of trial the engines store: complete, a twin, pruned, raced, failed, waiting."""
    spec = parse_spec(tiny_spec(name, budget={"trials": 20, "epochs": 2}, **changes))
    study, _ = create_or_resume(open_storage(url), spec)
    distributions = spec.search_space().distributions()
    two = len(study.directions) > 1

    def add(state: TrialState, values: list[float], mu: float, **extra: Any) -> None:
        params = {"cell": "momentum-lstm", "mu": mu, "s": 0.5}
        mean = sum(values) / len(values)
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                values=([mean, 10 * mu] if two else [mean]) if state == TrialState.COMPLETE else None,
                params=params,
                distributions={k: distributions[k] for k in params},
                user_attrs=_attrs(values, **extra),
                system_attrs={"fixed_params": params},
                intermediate_values={} if two else {1: mean + 1, 2: mean},
            )
        )

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
    keys = ("reused_from", "reason", "absent")
    for aggregates in (study_aggregates(storage, count_attrs=keys), _queries._public_aggregates(storage, keys)):
        found = {a.name: a for a in aggregates}
        for name in names:
            trials = _full(url, name)
            assert found[name].states == dict(Counter(t.state.name for t in trials))
            assert found[name].attr_counts == {key: sum(key in t.user_attrs for t in trials) for key in keys}
            assert found[name].best_value == min(t.values[0] for t in trials if t.state == TrialState.COMPLETE)
            assert found[name].directions == tuple(
                d.name.lower() for d in optuna.load_study(study_name=name, storage=storage).directions
            )
        assert found[names[0]].states == {"COMPLETE": 4, "PRUNED": 2, "FAIL": 1, "WAITING": 1}
        assert found[names[0]].attr_counts == {"reused_from": 1, "reason": 7, "absent": 0}


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
    return _queries._filtered(storage.get_all_trials(study_id, deepcopy=False), **only)


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
    monkeypatch.setattr(_summary, "SHOW_ALL_UP_TO", 5)
    monkeypatch.setattr(_summary, "SHOW_TOP", 3)
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
    assert "6/20 (1 twin)" in listed.stdout  # the twin trained nothing: said wherever the budget is counted
    shown = runner.invoke(app, ["studies", "show", name, "--storage", url])
    assert "mse 0.21 ± 0.01 (2 seeds, test 1.21)" in shown.stdout and "best 3 of" not in shown.stdout, shown.stdout
    assert "6/20 finished (4 complete, 2 pruned; 1 twin reused an earlier result, training nothing), 1 failed" in shown.stdout
    listed_json = json.loads(runner.invoke(app, ["studies", "list", "--json", "--storage", url]).stdout)
    shown_json = json.loads(runner.invoke(app, ["studies", "show", name, "--json", "--storage", url]).stdout)
    assert [s["counts"]["twins"] for s in listed_json if s["name"] == name] == [shown_json["counts"]["twins"]] == [1]
    rows = json.loads(runner.invoke(app, ["studies", "show", name, "--json", "--storage", url]).stdout)["trials"]
    assert [row["seeds"] for row in rows] == [2, 2, 2, 2, 1, 1, 1, 0]  # the waiting trial trained none
    # A kind's search value is the best of the configurations it trained: 3 complete and 2 pruned, not the
    # twin, the failed or the waiting one.
    assert "0.21 (2 seeds; best of 5 configs)" in shown.stdout, shown.stdout

    monkeypatch.setattr(_summary, "SHOW_ALL_UP_TO", 5)
    monkeypatch.setattr(_summary, "SHOW_TOP", 3)
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
    results = tuple(
        TrainResult(
            best_value=v,
            best_epoch=1,
            test_value=v + 1,
            epochs_run=2,
            wall_time=0.5,
            diverged=False,
            stopped=False,
            history=(v + 1, v),
            metric="mse",
            direction="minimize",
            config=plan.config({"cell": "momentum-lstm"}, seed=seed),
        )
        for seed, v in enumerate((0.2, 0.4))
    )
    attrs = evaluation_attrs(Evaluation(results=results, seeds=plan.seeds))
    assert list(attrs) == [
        "config",
        "gain",
        "seeds",
        "seed_values",
        "seed_test_values",
        "seed_best_epochs",
        "seed_histories",
        "seed_learned",
        "seed_wall_times",
        "gradient_flow",
        "value_mean",
        "value_std",
        "test_value",
        "metric",
        "epochs_run",
        "wall_time",
        "train_time",
        "diverged",
        "version",
    ]
    assert attrs["seed_values"] == [0.2, 0.4] and attrs["value_mean"] == pytest.approx(0.3) and attrs["epochs_run"] == 4


# ---- a large study: ranked first, then only what is printed read ----------------------------------------

LARGE_SHOWN_UP_TO, LARGE_TOP = 40, 3  # show's thresholds here: the study is over the first, its best trials more than the second


def _large(url: str, name: str, **changes: Any) -> optuna.Study:
    """A study of more trials than ``show`` lists whole (with the thresholds above) holding all that ranking
    must get right: a twin better than every trial (number 0), ties at the best value (9, 21, 40), μ = 0
    and μ > 0 on the momentum cell, a cell (gru) whose every trial lost the seed race, one of them better
    than every COMPLETE trial, pruned, failed, running and retried trials; the single-objective study also
    has a confirmation study that asked for its top 5, with trial 9 confirmed."""
    spec = parse_spec(tiny_spec(name, cells=["lstm", "momentum-lstm", "gru"], budget={"trials": 100, "epochs": 2}, **changes))
    storage = open_storage(url)
    study, _ = create_or_resume(storage, spec)
    distributions = spec.search_space().distributions()
    two = len(study.directions) > 1
    rng = random.Random(0)
    trials: list[optuna.trial.FrozenTrial] = []

    def add(state: TrialState, value: float, cell: str, mu: float = 0.5, system_attrs: Any = None, **extra: Any) -> None:
        params = {"cell": cell, **({"mu": mu, "s": 0.5} if cell == "momentum-lstm" else {})}
        values = [value, round(rng.uniform(0, 1), 2)] if two else [value]
        trials.append(
            optuna.trial.create_trial(
                state=state,
                values=values if state == TrialState.COMPLETE else None,
                params=params,
                distributions={k: distributions[k] for k in params},
                user_attrs=_attrs([value], **extra),
                system_attrs=system_attrs or {},
            )
        )

    add(TrialState.COMPLETE, 0.01, "momentum-lstm", 0.3, reused_from=5)
    for number in range(1, 60):
        if number in (9, 21, 40):
            add(TrialState.COMPLETE, 0.1, "lstm" if number == 21 else "momentum-lstm", 0.0 if number == 40 else 0.6)
            continue
        cell, mu, value, kind = (
            rng.choice(["lstm", "momentum-lstm"]),
            rng.choice([0.0, 0.7]),
            round(rng.uniform(0.2, 1), 2),
            rng.random(),
        )
        if kind < 0.6:
            add(TrialState.COMPLETE, value, cell, mu)
        elif kind < 0.75:
            add(TrialState.PRUNED, value, cell, mu, reason="pruned: seed 0 after epoch 1")
        elif kind < 0.9:
            add(TrialState.PRUNED, value, cell, mu, reason=f"raced: mean {value} on seed 0, worse than trial 9's")
        else:
            add(TrialState.FAIL, value, cell, mu, reason="error: boom")
    for value in (0.3, 0.05, 0.4):
        add(TrialState.PRUNED, value, "gru", reason=f"raced: mean {value} on seed 0, worse than trial 9's")
    add(TrialState.RUNNING, 0.2, "lstm")
    add(TrialState.FAIL, 0.2, "lstm", reason=None)
    add(TrialState.WAITING, 0.2, "lstm", system_attrs={"retry_history": [len(trials) - 1], "failed_trial": len(trials) - 1})
    with storage.one_transaction():
        study.add_trials(trials)
    if not two:
        held, _ = create_or_resume(storage, _confirm.confirmation_spec(spec, seeds=2))
        held.set_user_attr(_confirm.CONFIRMS_ATTR, name)
        held.set_user_attr(_confirm.TOP_ATTR, 5)
        held.add_trial(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE,
                value=0.12,
                params=trials[9].params,
                distributions=trials[9].distributions,
                user_attrs={**_attrs([0.12, 0.13]), "source": 9},
            )
        )
    return study


@pytest.fixture
def large(storage_url: str, study_name: str) -> tuple[str, str, str]:
    _large(storage_url, study_name)
    _large(storage_url, study_name + "-two", objective={"train_time": True})
    return storage_url, study_name, study_name + "-two"


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_show_and_export_of_a_large_study_are_those_of_a_full_read(
    large: tuple[str, str, str], public: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, name, two = large
    monkeypatch.setattr(_summary, "SHOW_ALL_UP_TO", LARGE_SHOWN_UP_TO)
    monkeypatch.setattr(_summary, "SHOW_TOP", LARGE_TOP)
    if public:
        monkeypatch.setenv(PUBLIC_API_ENV, "1")
    for study_name in (name, two):
        study = load_study(open_storage(url), study_name)
        frozen = study.get_trials(deepcopy=False)
        assert len(frozen) > LARGE_SHOWN_UP_TO
        directions = [d.name.lower() for d in study.directions]
        # What show and export gave when they read every trial.
        records = trial_records(study, user_attrs=SUMMARY_ATTRS, system_attrs=(), curves=False)
        retried = {t.system_attrs["retry_history"][-1] for t in frozen if "retry_history" in t.system_attrs}
        confirmation = read_confirmation(study) if len(directions) == 1 else None

        shown = show_study(study_name, storage=url)
        assert shown.trials == [_summary._row(r, retried) for r in ranked(records, directions[0])[:LARGE_TOP]]
        assert shown.best == [_summary._row(r, retried) for r in best_trials(records, directions)]
        assert shown.counts == _summary._counts(
            Counter(t.state.name for t in frozen), sum("reused_from" in t.user_attrs for t in frozen)
        )
        assert shown.omitted == len(frozen) - LARGE_TOP
        assert shown.confirmation == confirmation
        for top, per_cell in ((1, False), (6, False), (1, True)):
            chosen = select_trials(study, top=top, per_cell=per_cell)
            whole = {t.number: t for t in trial_records(study, numbers=[t.number for t in chosen], curves=False)}
            expected = [_export._export(study, whole[t.number], resolve_url(url), confirmation).document() for t in chosen]
            found = [e.document() for e in export_study(study_name, storage=url, top=top, per_cell=per_cell)]
            for document in (*expected, *found):
                del document["provenance"]["exported_at"]
            assert found == expected

    # What a wrong choice would break: the twin better than all stays out, the ties are the best, the gru
    # cell's best raced trial stands for it, the confirmation's own top 5 and its confirmed trial count.
    shown = show_study(name, storage=url)
    assert [row.number for row in shown.best] == [9, 21, 40] and shown.trials[0].state == "PRUNED"
    assert 0 not in {row.number for row in shown.trials}
    assert shown.confirmation is not None and shown.confirmation.with_role("top 5") is not None
    gru = shown.confirmation.with_role("best gru")
    assert gru is not None and gru.candidate.search_value == 0.05 and shown.trials[0].number == gru.candidate.source
    top = shown.confirmation.with_role("top 1")
    assert top is not None and top.candidate.source == 9 and top.confirmed
    assert export_study(name, storage=url)[0].provenance["confirmed"]["trial"] == 0


def test_outlines_are_the_full_read_in_a_row_each(large: tuple[str, str, str]) -> None:
    url, name, two = large
    storage = open_storage(url)
    for study_name, objectives in ((name, 1), (two, 2)):
        study_id = storage.get_study_id_from_name(study_name)
        only: dict[str, Any] = {"params": STANDING_PARAMS, "user_attrs": STANDING_ATTRS, "system_attrs": ("retry_history",)}
        outlines = _queries.query_outlines(storage, study_id, objectives=objectives, **only)
        frozen = _full(url, study_name)
        assert outlines == [_queries._outline(t, objectives=objectives, **only) for t in frozen]
        assert [o.values for o in outlines] == [None if t.values is None else tuple(t.values) for t in frozen]
    # A parameter's external value (the cell's a categorical choice), a null attr kept, a missing one absent.
    assert outlines[0].params == {"cell": "momentum-lstm", "mu": 0.3} and outlines[0].user_attrs["reason"] is None
    assert outlines[0].user_attrs["reused_from"] == 5 and "reused_from" not in outlines[1].user_attrs
    assert outlines[-1].system_attrs == {"retry_history": [len(outlines) - 2]} and outlines[-1].state == "WAITING"
