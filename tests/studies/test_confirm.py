"""Confirmation: the candidates retrained on held-out seeds, stored as linked trials, and read by every view."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from study_specs import tiny_spec
from typer.testing import CliRunner

from momentum_search import dashboards
from momentum_search.cli import app
from momentum_search.studies import (
    candidates,
    confirm,
    confirmation_name,
    create_or_resume,
    export_study,
    held_out_seeds,
    launch,
    mean_interval,
    open_storage,
    parse_spec,
    show_study,
    study_spec,
    trial_records,
)
from momentum_search.studies._confirm import CONFIRMS_ATTR, TOP_ATTR, confirmation_spec

runner = CliRunner()
SEARCH_SEEDS = [0, 1]
# lstm (the baseline) and a 2 × 1 grid of momentum-lstm with μ = 0 among its points: the paper's question.
GRID = {"mu": {"points": [0.0, 0.5]}, "s": {"points": [0.6]}}


def _search(url: str, name: str = "searched") -> None:
    spec = tiny_spec(name, space=GRID, seeds=SEARCH_SEEDS, sampler={"name": "grid"}, budget={"epochs": 1})
    assert launch(parse_spec(spec), storage=url).errors == []


def test_held_out_seeds_skip_the_search_seeds() -> None:
    assert held_out_seeds([0, 1000, 1002], 3) == (1001, 1003, 1004)
    assert held_out_seeds(range(5), 2) == (1000, 1001)


def test_an_interval_needs_two_seeds() -> None:
    assert mean_interval([0.5]) is None  # one seed has no spread: no interval, never "± 0"
    low, high = mean_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.302653, sd = 1, n = 3
    assert (low, high) == pytest.approx((2.0 - 4.302653 / 3**0.5, 2.0 + 4.302653 / 3**0.5), rel=1e-6)


def test_confirmation_retrains_the_candidates_on_held_out_seeds(storage_url: str, study_name: str) -> None:
    _search(storage_url, study_name)
    result = confirm(study_name, storage=storage_url, top=1, seeds=2)
    storage = open_storage(storage_url)
    search = optuna.load_study(study_name=study_name, storage=storage).get_trials()
    held = optuna.load_study(study_name=confirmation_name(study_name), storage=storage).get_trials()
    # Candidates: the top one, each kind's best (lstm is the baseline), and the best at μ = 0 and at μ > 0.
    roles = {role for row in result.confirmation.rows for role in row.candidate.roles}
    assert {"top 1", "best lstm", "best momentum-lstm", "best μ = 0 (momentum-lstm)", "best μ > 0 (momentum-lstm)"} <= roles
    assert result.queued == len(held) == 3 and all(t.state == TrialState.COMPLETE for t in held)
    by_number = {t.number: t for t in search}
    for trial in held:
        source = by_number[trial.user_attrs["source"]]  # linked to the search trial it retrains
        assert trial.params == source.params
        assert trial.user_attrs["seeds"] == [1000, 1001]  # disjoint from the search's seeds
        assert not set(trial.user_attrs["seeds"]) & set(source.user_attrs["seeds"])
        assert trial.values[0] == pytest.approx(statistics.fmean(trial.user_attrs["seed_values"]))
    assert result.confirmation.complete and result.confirmation.seeds == (1000, 1001)

    again = confirm(study_name, storage=storage_url, top=1)  # keeps its held-out seeds, trains nothing
    assert again.queued == 0 and again.launch is None
    assert len(optuna.load_study(study_name=confirmation_name(study_name), storage=storage).get_trials()) == 3


def test_every_view_leads_with_the_confirmed_values(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'views.db'}"
    _search(url)
    unconfirmed = dashboards.report_study("searched", storage=url, gradient_flow=False)
    assert not unconfirmed.confirmation.confirmed
    assert "Not confirmed" in dashboards.to_html(unconfirmed) and "optimistic" in dashboards.to_markdown(unconfirmed)
    assert all(doc.provenance["confirmed"] is None for doc in export_study("searched", storage=url, per_cell=True))
    assert "Not confirmed on held-out seeds" in export_study("searched", storage=url)[0].comment()

    confirm("searched", storage=url, top=1, seeds=3)
    held = {
        t.params["cell"] + str(t.params.get("mu")): t
        for t in optuna.load_study(study_name="searched.confirm", storage=open_storage(url)).get_trials()
    }

    summary = show_study("searched", storage=url)
    info = dashboards.get_confirmation_info(summary.confirmation)
    assert info.confirmed and info.held_out == (1000, 1001, 1002)
    lstm = next(row for row in info.rows if row.cell == "lstm")
    values = held["lstmNone"].user_attrs["seed_values"]
    assert (lstm.mean, (lstm.low, lstm.high), lstm.seeds) == (statistics.fmean(values), mean_interval(values), 3)
    momentum = [row for row in info.rows if row.cell == "momentum-lstm"]
    assert momentum and all(row.verdict is not None and row.verdict.reference == "lstm" for row in momentum)
    paper = [v for v in info.verdicts if "each side's best" in v.sentence]
    assert (
        len(paper) == 1
        and paper[0].arm.startswith("momentum-lstm (μ=0.5")
        and paper[0].reference.startswith("momentum-lstm (μ=0,")
    )

    report = dashboards.report_study("searched", storage=url, gradient_flow=False)
    page = dashboards.to_html(report)
    assert "Confirmed on 3 held-out seeds (1000, 1001, 1002)" in page and paper[0].sentence in page.replace("&#x27;", "'")
    cells = dashboards.get_cell_comparison_info(
        dashboards.read_trials(optuna.load_study(study_name="searched", storage=open_storage(url))), report.confirmation
    )
    best_momentum = next(row for row in momentum if "best momentum-lstm" in row.roles)
    assert {row.cell: row.confirmed.mean for row in cells.rows} == {"lstm": lstm.mean, "momentum-lstm": best_momentum.mean}
    assert "Confirmed on 3 held-out seeds" in dashboards.to_markdown(report)  # the dashboard's study note
    # Time to the plain cell's confirmed value: each momentum row against lstm, from the held-out seeds' curves.
    assert [(arm.label.split(" ")[0], ref.label) for arm, ref in info.times] == [("momentum-lstm", "lstm")] * len(momentum)
    arm, ref = info.times[0]
    assert len(arm.epochs) == len(ref.epochs) == 3 and all(e is not None for e in ref.epochs)
    cells_section = next(section for section in report.sections if section.key == "cells")
    assert "Time to the plain cell" in cells_section.html and "epochs to reach" in cells_section.html

    exported = export_study("searched", storage=url, per_cell=True)
    lstm_doc = next(doc for doc in exported if doc.provenance["cell"] == "lstm")
    assert lstm_doc.provenance["confirmed"]["seeds"] == [1000, 1001, 1002]
    assert lstm_doc.provenance["confirmed"]["seed_values"] == values
    assert "Confirmed on 3 held-out seeds" in lstm_doc.comment()


def test_one_seed_never_shows_a_spread(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    spec = tiny_spec("single", space=GRID, sampler={"name": "grid"}, budget={"epochs": 1})
    assert launch(parse_spec(spec), storage=url).errors == []
    report = dashboards.report_study("single", storage=url, gradient_flow=False)
    assert all("±" not in row[3] for row in dashboards._report.summary_rows(report))
    trials = dashboards.read_trials(optuna.load_study(study_name="single", storage=open_storage(url)))
    assert all(row.best_std is None and row.best_seeds == 1 for row in dashboards.get_cell_comparison_info(trials).rows)
    grid = dashboards.get_mu_s_map_info(trials, "momentum-lstm")
    assert all(sd is None for row in grid.z_std for sd in row) and all(p.std is None for p in grid.points)


def test_a_sampled_map_draws_points_not_a_surface_below_enough_points(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'few.db'}"
    assert (
        launch(parse_spec(tiny_spec("few", cells=["momentum-lstm"], budget={"trials": 4, "epochs": 1})), storage=url).errors == []
    )
    trials = dashboards.read_trials(optuna.load_study(study_name="few", storage=open_storage(url)))
    info = dashboards.get_mu_s_map_info(trials, "momentum-lstm")
    assert info.z is None and "too few for a surface" in info.note and len(info.points) == 4


def test_the_confirm_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    _search(url)
    storage = ["--storage", url]
    for option, message in (("--seeds", "seeds must be in [2, 100]"), ("--top", "top must be in [1, 100], got 0")):
        bad = runner.invoke(app, ["confirm", "searched", option, "1" if option == "--seeds" else "0", *storage])
        assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and message in bad.stderr
    assert "searched.confirm" not in optuna.get_all_study_names(open_storage(url))  # nothing written
    missing = runner.invoke(app, ["confirm", "nope", *storage])
    assert missing.exit_code == 1 and "no study named 'nope'" in missing.stderr

    done = runner.invoke(app, ["confirm", "searched", "--top", "1", "--seeds", "2", "--json", *storage])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["trained"] == 3 and data["confirmed"] and data["held_out"] == [1000, 1001]
    assert all(row["ci95"] is not None and row["held_out_seeds"] == 2 for row in data["rows"])
    again = runner.invoke(app, ["confirm", "searched", *storage])
    assert again.exit_code == 0 and "nothing to train" in again.stdout
    shown = runner.invoke(app, ["studies", "show", "searched", *storage])
    assert shown.exit_code == 0 and shown.stdout.index("Confirmed on 2 held-out seeds") < shown.stdout.index("search best")
    other = runner.invoke(app, ["confirm", "searched", "--seeds", "3", *storage])
    assert other.exit_code == 1 and "was confirmed on 2 held-out seeds, not 3" in other.stderr


def test_a_spec_confirms_at_the_end_of_its_launch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'end.db'}"
    spec = tiny_spec("ends", space=GRID, sampler={"name": "grid"}, budget={"epochs": 1}, confirm={"top": 1, "seeds": 2})
    path = tmp_path / "ends.yaml"
    path.write_text(yaml.safe_dump(spec))
    launched = runner.invoke(app, ["launch", str(path), "--storage", url])
    assert launched.exit_code == 0, launched.output
    printed = " ".join(launched.stdout.split())  # rich wraps long lines
    assert "Confirmed on 2 held-out seeds" in printed
    assert any(f"{outcome} lstm (Δ mse" in printed for outcome in ("better than", "worse than", "not distinguishable from"))
    held = optuna.load_study(study_name="ends.confirm", storage=open_storage(url)).get_trials()
    assert len(held) == 3 and all(t.user_attrs["seeds"] == [1000, 1001] for t in held)


def test_the_held_out_seeds_of_one_candidate_train_on_both_workers_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    # One candidate (lstm alone), 2 held-out seeds, 2 workers, spawned together: one trial per seed lets
    # each take one. (Trained one after the other, both seeds would be on one worker.)
    spec = tiny_spec(
        "busy",
        cells=["lstm"],
        space={},
        budget={"trials": 1, "epochs": 3},
        task_params={"length": 30, "n_train": 600, "n_valid": 32, "n_test": 32},
    )
    assert launch(parse_spec(spec), storage=url).errors == []
    result = confirm("busy", storage=url, top=1, seeds=2, workers=2)
    assert result.queued == 1 and result.launch is not None and result.launch.errors == []
    storage = open_storage(url)
    (trial,) = optuna.load_study(study_name="busy.confirm", storage=storage).get_trials()
    assert trial.state == TrialState.COMPLETE and trial.user_attrs["seeds"] == [1000, 1001]
    # Each seed on its own worker, their trainings overlapping in time.
    assert len(set(trial.user_attrs["seed_workers"])) == 2
    (start_a, end_a), (start_b, end_b) = trial.user_attrs["seed_times"]
    assert start_a < end_b and start_b < end_a
    # One trial that trained both: its value is the seeds' mean, its curve the first seed's.
    assert trial.values[0] == pytest.approx(statistics.fmean(trial.user_attrs["seed_values"]))
    assert [trial.intermediate_values[e] for e in (1, 2, 3)] == trial.user_attrs["seed_histories"][0]
    assert sum(trial.user_attrs["seed_wall_times"]) == pytest.approx(trial.user_attrs["wall_time"])
    assert "busy.confirm.seeds" not in optuna.get_all_study_names(storage)  # merged, then deleted
    confirmed = show_study("busy", storage=url).confirmation
    assert confirmed.complete and confirmed.rows[0].seed_values == tuple(trial.user_attrs["seed_values"])


def test_a_confirmation_stored_as_one_trial_per_candidate_still_reads_and_counts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _search(url, "old")
    storage = open_storage(url)
    study = optuna.load_study(study_name="old", storage=storage)
    # As confirm stored it before each held-out seed was a trial of its own: one trial trained a candidate's seeds.
    chosen = candidates(trial_records(study), direction="minimize", top=1)
    target = confirmation_spec(study_spec(study), seeds=2)
    target = target.model_copy(update={"budget": target.budget.model_copy(update={"trials": len(chosen)})})
    held, _ = create_or_resume(storage, target)
    held.set_user_attr(CONFIRMS_ATTR, "old")
    held.set_user_attr(TOP_ATTR, 1)
    for candidate in chosen:
        held.enqueue_trial(candidate.params, user_attrs={"source": candidate.source})
    assert launch(target, storage=url).errors == []
    stored = {t.user_attrs["source"]: t for t in held.get_trials()}
    assert all(t.user_attrs["seeds"] == [1000, 1001] and "seed_workers" not in t.user_attrs for t in stored.values())

    confirmation = show_study("old", storage=url).confirmation
    assert confirmation.complete and confirmation.seeds == (1000, 1001)
    assert {row.candidate.source: row.seed_values for row in confirmation.rows} == {
        source: tuple(t.user_attrs["seed_values"]) for source, t in stored.items()
    }
    again = confirm("old", storage=url)  # confirmed already: nothing to train, no seed study
    assert again.queued == 0 and again.launch is None
    assert sorted(optuna.get_all_study_names(storage)) == ["old", "old.confirm"]
