"""The study commands of the CLI: launch, worker, presets, studies list|show|delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from study_specs import tiny_spec
from typer.testing import CliRunner

from momentum_search.cli import _render, app
from momentum_search.studies import load_preset, parse_spec, preset_names

runner = CliRunner()


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(tiny_spec("cli-study", budget={"trials": 3, "epochs": 1})))
    return path


def test_presets_lists_every_preset_and_prints_one(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["presets", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [item["name"] for item in json.loads(listed.stdout)] == preset_names()
    shown = runner.invoke(app, ["presets", "quickstart"])
    assert shown.exit_code == 0
    assert parse_spec(yaml.safe_load(shown.stdout)) == load_preset("quickstart")
    missing = runner.invoke(app, ["presets", "nope"])
    assert missing.exit_code == 1 and "unknown preset 'nope'" in missing.stderr


def test_launch_list_show_delete(spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = ["--storage", f"sqlite:///{tmp_path / 'cli.db'}"]
    launched = runner.invoke(app, ["launch", str(spec_file), *storage])
    assert launched.exit_code == 0, launched.output
    assert "3/3 finished" in launched.stdout and "best" in launched.stdout

    listed = json.loads(runner.invoke(app, ["studies", "list", "--json", *storage]).stdout)
    assert [(item["name"], item["counts"]["finished"], item["budget"]) for item in listed] == [("cli-study", 3, 3)]

    shown = runner.invoke(app, ["studies", "show", "cli-study", "--json", *storage])
    data = json.loads(shown.stdout)
    assert [trial["state"] for trial in data["trials"]] == ["COMPLETE"] * 3
    assert data["spec"]["task"] == "adding" and len(data["best"]) == 1
    assert min(trial["values"][0] for trial in data["trials"]) == data["best"][0]["values"][0]

    table = runner.invoke(app, ["studies", "show", "cli-study", *storage])
    assert table.exit_code == 0 and "cli-study" in table.stdout and "time [s]" in table.stdout
    monkeypatch.setattr(_render, "RICH_TABLE_ROWS", 2)  # longer lists print as plain columns, one line a trial
    plain = runner.invoke(app, ["studies", "show", "cli-study", *storage]).stdout.splitlines()
    header = plain.index(next(line for line in plain if line.startswith("trial  state")))
    assert [line.split()[:2] for line in plain[header + 1 :]] == [[str(n), "complete"] for n in range(3)]

    # Resume by name alone, with a larger budget.
    resumed = runner.invoke(app, ["launch", "--study", "cli-study", "--trials", "4", *storage])
    assert resumed.exit_code == 0, resumed.output
    assert "(resumed)" in resumed.stdout and "4/4 finished" in resumed.stdout

    deleted = runner.invoke(app, ["studies", "delete", "cli-study", "--yes", *storage])
    assert deleted.exit_code == 0
    assert json.loads(runner.invoke(app, ["studies", "list", "--json", *storage]).stdout) == []


def test_the_storage_comes_from_the_environment(spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOMENTUM_SEARCH_STORAGE", f"sqlite:///{tmp_path / 'env.db'}")
    assert runner.invoke(app, ["launch", str(spec_file), "--trials", "1"]).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_a_bad_spec_is_one_line_on_stderr_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny_spec("bad", space={"mu": {"low": 0.0, "high": 1.5}})))
    result = runner.invoke(app, ["launch", str(path), "--storage", f"sqlite:///{tmp_path / 'bad.db'}"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "space.mu: 1.5 is outside the allowed range 0 ≤ mu < 1" in result.stderr
    assert not (tmp_path / "bad.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["launch", "--preset", "quickstart", "--trials", "0"],
            "budget.trials: 0 is out of range; trials takes an integer in [1, 100000]",
        ),
        (["launch", "--preset", "quickstart", "--trials", "1000000000000"], "budget.trials: 1000000000000 is out of range"),
        (["launch", "--preset", "quickstart", "--workers", "0"], "workers must be in [1, 64], got 0"),
        (["launch", "x.yaml", "--preset", "quickstart"], "give a spec file or --preset, not both"),
        (["launch"], "nothing to launch"),
        (["launch", "--preset", "nope"], "unknown preset 'nope'"),
        (["worker", "--study", "ghost"], "no study named 'ghost'; the storage holds no study"),
        (["studies", "show", "ghost"], "no study named 'ghost'"),
        (["studies", "delete", "ghost", "--yes"], "no study named 'ghost'"),
    ],
)
def test_bad_input_fails_in_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, [*args, "--storage", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_an_unreachable_database_fails_before_any_work_without_the_password(spec_file: Path) -> None:
    url = "postgresql+psycopg2://someone:hunter2@127.0.0.1:1/studies"
    for args in (["launch", str(spec_file)], ["studies", "list"], ["worker", "--study", "x"]):
        result = runner.invoke(app, [*args, "--storage", url])
        assert result.exit_code == 1, args
        assert "hunter2" not in result.output and "someone:***@127.0.0.1:1" in result.stderr
        assert result.stderr.startswith("error: cannot open storage") and result.stderr.count("\n") == 1
