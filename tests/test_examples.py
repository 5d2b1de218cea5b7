"""The examples in `examples/` run as their docstrings say, at a tiny size, and stay short."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from momentum_search.cli import app
from momentum_search.studies import parse_spec
from momentum_search.trainers import TrainConfig, UserObjective, train

EXAMPLES = Path(__file__).parents[1] / "examples"
runner = CliRunner()


@pytest.mark.parametrize("path", sorted(EXAMPLES.iterdir()), ids=lambda path: path.name)
def test_each_example_is_at_most_40_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 40


def test_the_digits_rows_data_trains_and_its_spec_is_valid(tmp_path: Path) -> None:
    out = tmp_path / "digits-rows.npz"
    subprocess.run([sys.executable, str(EXAMPLES / "digits_rows.py"), str(out), "200"], check=True, capture_output=True)
    trained = runner.invoke(
        app, ["train", "--data", str(out), "--cell", "momentum-lstm", "--hidden-size", "4", "--epochs", "1", "--json"]
    )
    assert trained.exit_code == 0, trained.output
    spec = yaml.safe_load((EXAMPLES / "digits-rows.yaml").read_text())
    spec["task"]["data"] = str(out)
    parsed = parse_spec(spec)
    assert (parsed.task_params["head"], parsed.objective.metric, parsed.task_params["classes"]) == (
        "classify_last",
        "accuracy",
        10,
    )


def test_the_own_loop_objective_trains_a_model_with_a_momentum_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    objective = UserObjective(function="own_loop:train", metric="accuracy", direction="maximize")
    config = TrainConfig(task="objective", objective=objective, cell="momentum-lstm", hidden_size=8, batch_size=32, epochs=2)
    result = train(config, on_epoch=lambda epoch, value: False)
    assert result.best_value == max(result.history) and len(result.history) == 2 and result.best_value > 20  # chance: 10 %
