"""Export of best configs, and the round trip: export, retrain from the file, get the stored value."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml
from study_specs import tiny_spec
from typer.testing import CliRunner

from momentum_search.cli import app
from momentum_search.studies import create_or_resume, launch, open_storage, parse_spec

runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, optuna.Study]:
    """A finished study: 2 cells, 2 seeds per trial, 5 trials."""
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'export.db'}"
    spec = parse_spec(tiny_spec("exp", seeds=2, budget={"trials": 5, "epochs": 2}))
    assert launch(spec, storage=url).errors == []
    return url, optuna.load_study(study_name="exp", storage=open_storage(url))


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The COMPLETE trials best first, twins (copies of an earlier trial's result) left out: the same
    configuration is exported once."""
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    return sorted(
        (t for t in trials if "reused_from" not in t.user_attrs), key=lambda t: (t.value, t.number)
    )  # mse: lower is better


def test_export_retrain_round_trip_reproduces_the_stored_value_exactly(finished, tmp_path: Path) -> None:
    url, study = finished
    best = _complete(study)[0]
    out = tmp_path / "best.yaml"
    result = runner.invoke(app, ["export", "exp", "--storage", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# momentum-search export of study 'exp'")
    assert "reproduces" in text and "±" in text  # the comment says what to expect on other seeds
    document = yaml.safe_load(text)
    assert document["provenance"]["trial"] == best.number
    assert document["provenance"]["value"] == best.value
    assert document["config"] == best.user_attrs["config"]

    retrained = runner.invoke(app, ["train", "--config", str(out), "--json"])
    assert retrained.exit_code == 0, retrained.output
    run = json.loads(retrained.stdout)["runs"][0]
    assert run["best_value"] == best.user_attrs["seed_values"][0]  # exactly, not approximately
    assert run["test_value"] == best.user_attrs["seed_test_values"][0]

    both = runner.invoke(app, ["train", "--config", str(out), "--seeds", "2", "--json"])
    assert both.exit_code == 0, both.output
    assert json.loads(both.stdout)["best_value"]["mean"] == best.value


def test_top_k_and_per_cell(finished, tmp_path: Path) -> None:
    url, study = finished
    ranked = _complete(study)
    top = runner.invoke(app, ["export", "exp", "--storage", url, "--top", "3", "--format", "json"])
    assert top.exit_code == 0, top.output
    assert [d["provenance"]["trial"] for d in json.loads(top.stdout)] == [t.number for t in ranked[:3]]

    folder = tmp_path / "per-cell"
    per_cell = runner.invoke(app, ["export", "exp", "--storage", url, "--per-cell", "--out", str(folder)])
    assert per_cell.exit_code == 0, per_cell.output
    documents = [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]
    expected = {}
    for trial in ranked:
        expected.setdefault(trial.params["cell"], trial.number)
    assert {d["provenance"]["cell"]: d["provenance"]["trial"] for d in documents} == expected


def test_two_objective_study_exports_its_pareto_front(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pareto.db'}"
    spec = parse_spec(tiny_spec("front", objective={"train_time": True}, budget={"trials": 5, "epochs": 1}))
    assert launch(spec, storage=url).errors == []
    study = optuna.load_study(study_name="front", storage=open_storage(url))
    result = runner.invoke(app, ["export", "front", "--storage", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    exported = {d["provenance"]["trial"] for d in json.loads(result.stdout)}
    assert exported == {t.number for t in study.best_trials if "reused_from" not in t.user_attrs}  # a twin once


def test_password_never_reaches_the_export(server_databases, study_name: str) -> None:
    url = server_databases["postgresql"]
    if url is None:
        pytest.skip("postgresql server not reachable on 127.0.0.1")
    # Trust authentication ignores the password, so it can be any secret here.
    secret_url = url.replace("postgres@", "postgres:hunter2secret@")
    assert launch(parse_spec(tiny_spec(study_name, budget={"trials": 1, "epochs": 1})), storage=secret_url).errors == []
    result = runner.invoke(app, ["export", study_name, "--storage", secret_url])
    assert result.exit_code == 0, result.output
    assert "hunter2secret" not in result.output
    assert "***" in yaml.safe_load(result.stdout)["provenance"]["storage"]


@pytest.mark.parametrize("case", ["no complete trial", "unknown study", "unreachable store", "bad top"])
def test_export_errors_are_one_line_and_exit_1(case: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    args = ["export", "fresh", "--storage", url]
    if case == "no complete trial":
        create_or_resume(open_storage(url), parse_spec(tiny_spec("fresh")))
    elif case == "unknown study":
        args[1] = "nosuch"
    elif case == "unreachable store":
        args[3] = "postgresql+psycopg2://postgres@127.0.0.1:1/nothing"
    else:
        create_or_resume(open_storage(url), parse_spec(tiny_spec("fresh")))
        args += ["--top", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert result.stdout == ""
