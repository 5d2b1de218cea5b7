"""Code tasks: `module:function` (or a name an installed package registers) builds a `Task`, or returns
the arrays of an `.npz`; studies run on them as on the built-in tasks, and every failure is one line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from momentum_search.cli import app
from momentum_search.studies import parse_spec
from momentum_search.trainers import TrainConfig, get_task, train
from momentum_search.trainers.tasks import ExampleTask, code_tasks, is_code_task

runner = CliRunner()

USER_TASKS = '''
import numpy as np
import torch

from momentum_search.trainers.tasks import Batch, ExampleTask, Metric, TaskDefaults


def planted_arrays(n=64, steps=6, seed=0):
    """The protocol's short form: the arrays of an .npz."""
    rng = np.random.default_rng(seed)
    out = {}
    for split in ("train", "valid", "test"):
        x = rng.normal(size=(n, steps, 2)).astype(np.float32)
        out[f"x_{split}"], out[f"y_{split}"] = x, (x[:, -1, 0] > 0).astype(np.int64)
    return out


class Sums(ExampleTask):
    """The long form: a Task. Regress the sum of every step's input, at every step."""

    name = "sums"
    head = "regress_each"
    metric = Metric("mse", "minimize")
    defaults = TaskDefaults(optimizer="adam", lr=1e-2, batch_size=8, epochs=2, grad_clip=1.0, hidden_size=4)
    input_size = output_size = 1

    def __init__(self, *, n=24):
        super().__init__(n=n)
        self.x = {split: torch.randn(n, 5, 1, generator=torch.Generator().manual_seed(i)) for i, split in enumerate(("train", "valid", "test"))}

    def _split_size(self, split):
        return len(self.x[split])

    def _make_batch(self, split, index):
        x = self.x[split][index].transpose(0, 1)
        return Batch(x=x, y=x.cumsum(0))


def make_sums(n=24):
    return Sums(n=n)


def raises(n=1):
    raise RuntimeError("no data today")


def returns_a_number():
    return 3
'''


@pytest.fixture(scope="module")
def user_code(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`user_tasks.py`, `broken_import.py` and an installed distribution registering `planted` on sys.path."""
    root = tmp_path_factory.mktemp("user")
    (root / "user_tasks.py").write_text(USER_TASKS)
    (root / "broken_import.py").write_text("import numpy\nraise ImportError('needs a GPU library')\n")
    info = root / "user_tasks-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: user-tasks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[momentum_search.tasks]\nplanted = user_tasks:planted_arrays\n")
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for name in ("user_tasks", "broken_import"):
        sys.modules.pop(name, None)


def test_both_forms_of_the_protocol_train(user_code: Path) -> None:
    arrays = get_task("user_tasks:planted_arrays", n=32)
    assert (arrays.head, arrays.metric.name, arrays.input_size, arrays.output_size) == ("classify_last", "accuracy", 2, 2)
    sums = get_task("user_tasks:make_sums")
    assert isinstance(sums, ExampleTask) and sums.head == "regress_each"
    result = train(TrainConfig(task="user_tasks:make_sums", cell="momentum-lstm"))
    # The task's own defaults apply: 2 epochs, hidden size 4.
    assert (result.epochs_run, result.config.hidden_size, result.metric) == (2, 4, "mse")


def test_an_installed_package_registers_tasks_by_name(user_code: Path) -> None:
    assert code_tasks()["planted"] == "user_tasks:planted_arrays" and is_code_task("planted")
    assert not is_code_task("digits") and not is_code_task("nothing")
    result = train(TrainConfig(task="planted", task_params={"n": 16}, cell="lstm", hidden_size=4, epochs=1))
    assert result.metric == "accuracy"
    with pytest.raises(
        ValueError,
        match=r"unknown task 'nothing'; known tasks: copy, .*, ptb, planted, data \(an \.npz file\) or module:function",
    ):
        TrainConfig(task="nothing")
    # A study stores what the name stands for: readers without the package still know it.
    spec = parse_spec({"name": "named", "task": "planted", "task_params": {"n": 16}, "cells": ["lstm"], "budget": {"trials": 1}})
    assert (spec.task, spec.objective.metric) == ("user_tasks:planted_arrays", "accuracy")


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("no_such_module:make", "task no_such_module:make: cannot import no_such_module: No module named 'no_such_module'"),
        ("broken_import:make", "task broken_import:make: cannot import broken_import: needs a GPU library"),
        ("user_tasks:missing", "task user_tasks:missing: module user_tasks has no 'missing'"),
        ("user_tasks:raises", "task user_tasks:raises: RuntimeError: no data today"),
        (
            "user_tasks:returns_a_number",
            "task user_tasks:returns_a_number: returned a int; expected a Task or a mapping of arrays",
        ),
    ],
)
def test_a_code_task_that_fails_is_one_line_and_nothing_in_the_store(
    user_code: Path, tmp_path: Path, task: str, message: str
) -> None:
    spec = {"name": "code", "task": {"module": task}, "cells": ["lstm"], "budget": {"trials": 1}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    store = tmp_path / "code.db"
    result = runner.invoke(app, ["launch", str(path), "--storage", f"sqlite:///{store}"])
    assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not store.exists()


def test_a_study_of_a_code_task_exports_a_config_that_names_it_and_retrains(user_code: Path, tmp_path: Path) -> None:
    spec = {
        "name": "sums",
        "task": {"module": "user_tasks:make_sums", "params": {"n": 16}},
        "cells": ["lstm", "momentum-lstm"],
        "space": {"mu": {"low": 0.0, "high": 0.9}},
        "budget": {"trials": 3},
        "sampler": {"name": "random", "seed": 0},
    }
    path, url = tmp_path / "spec.yaml", f"sqlite:///{tmp_path / 'sums.db'}"
    path.write_text(yaml.safe_dump(spec))
    assert runner.invoke(app, ["launch", str(path), "--storage", url]).exit_code == 0
    stored = optuna.load_study(study_name="sums", storage=url).user_attrs["spec"]
    # What the code said is stored, so that reading the study needs no import of it.
    assert (stored["objective"]["metric"], stored["objective"]["direction"], stored["budget"]["epochs"]) == ("mse", "minimize", 2)
    best = tmp_path / "best.yaml"
    assert runner.invoke(app, ["export", "sums", "--storage", url, "--out", str(best)]).exit_code == 0
    document = yaml.safe_load(best.read_text())
    assert (document["config"]["task"], document["config"]["task_params"]) == ("user_tasks:make_sums", {"n": 16})
    retrained = runner.invoke(app, ["train", "--config", str(best), "--json"])
    assert json.loads(retrained.stdout)["runs"][0]["best_value"] == document["provenance"]["seed_values"][0]
