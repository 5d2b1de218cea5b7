"""A study of the user's own `.npz`: launch, confirm, plot, export and retrain; and every bad file refused
in one line with nothing written."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pytest
from typer.testing import CliRunner

from momentum_search.cli import app
from round_trip import round_trip, write_spec

if TYPE_CHECKING:
    from conftest import NpzData

runner = CliRunner()


def planted(path: Path) -> Path:
    """Sequences of 10 steps, 2 features; the class is whether the last two steps' first feature sum above 0."""
    rng = np.random.default_rng(0)
    splits = {}
    for split, n in (("train", 128), ("valid", 64), ("test", 64)):
        x = rng.normal(size=(n, 10, 2)).astype(np.float32)
        splits[f"x_{split}"], splits[f"y_{split}"] = x, (x[:, -1, 0] + x[:, -2, 0] > 0).astype(np.int64)
    np.savez(path, **splits)
    return path


def data_spec(name: str, task: dict[str, Any], **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "task": task,
        "cells": ["lstm", "momentum-lstm"],
        "space": {"mu": {"low": 0.0, "high": 0.9}, "s": {"low": 0.3, "high": 2.0, "log": True}},
        "fixed": {"hidden_size": 4, "batch_size": 32},
        "budget": {"trials": 4, "epochs": 3},
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "confirm": {"top": 1, "seeds": 2},
    }
    spec.update(changes)
    return spec


def test_a_study_of_your_own_data_launches_confirms_plots_exports_and_retrains(tmp_path: Path) -> None:
    data = planted(tmp_path / "planted.npz")
    study, document, stderr = round_trip(tmp_path, data_spec("own", {"data": str(data)}), "--workers", "2")
    assert f"data {data} (sha256 " in stderr and "head classify_last (2 classes), metric accuracy ↑" in stderr
    stored = study.user_attrs["spec"]["task_params"]
    assert stored["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert max(t.value for t in study.trials if t.value is not None) > 60  # the planted signal is found (chance: 50 %)
    assert document["config"]["task"] == "data" and document["config"]["task_params"]["sha256"] == stored["sha256"]


def test_a_worker_or_a_resume_on_other_data_is_refused_in_one_line(tmp_path: Path) -> None:
    data = planted(tmp_path / "planted.npz")
    url = f"sqlite:///{tmp_path / 'own.db'}"
    spec = write_spec(tmp_path, data_spec("moved", {"data": str(data)}, budget={"trials": 1, "epochs": 1}, confirm=None))
    assert runner.invoke(app, ["launch", spec, "--storage", url]).exit_code == 0
    before = len(optuna.load_study(study_name="moved", storage=url).trials)
    with np.load(data) as archive:
        changed = dict(archive)
    changed["x_train"][0, 0, 0] += 1.0
    np.savez(data, **changed)
    for args, message in (
        (["worker", "--study", "moved"], "the file differs from the study's (sha256"),
        (["launch", "--study", "moved", "--trials", "2"], "the file differs from the study's (sha256"),
        (["launch", spec, "--trials", "2"], "study 'moved' was launched on other data"),
    ):
        result = runner.invoke(app, [*args, "--storage", url])
        assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, result.output
    assert len(optuna.load_study(study_name="moved", storage=url).trials) == before
    data.unlink()
    missing = runner.invoke(app, ["worker", "--study", "moved", "--storage", url])
    assert missing.exit_code == 1 and "cannot read it as .npz: No such file or directory" in missing.stderr


def bad_file(npz: NpzData, tmp_path: Path, case: str) -> tuple[str, dict[str, Any]]:
    """A bad file (or options) for `case`: the path and the options to load it with."""
    good = npz.arrays((12, 6, 3), "class")
    options: dict[str, Any] = {}
    if case == "unreadable":
        return str(tmp_path / "missing.npz"), options
    if case == "not npz":
        (tmp_path / "d.npz").write_text("x_train: [1, 2]\n")
        return str(tmp_path / "d.npz"), options
    if case == "missing array":
        del good["y_valid"]
    elif case == "unknown array":
        good["x_tset"] = good["x_valid"]
    elif case == "wrong shape":
        good["y_train"] = good["y_train"][:5]
    elif case == "wrong dtype":
        good["x_train"] = good["x_train"].astype(bool)
    elif case == "float token ids":
        good["x_train"] = good["x_train"][:, :, 0]
    elif case == "object array":
        good["x_train"] = np.array([[1.0], "a"], dtype=object)
    elif case == "features differ":
        good["x_valid"] = good["x_valid"][:, :, :2]
    elif case == "nan":
        good["x_valid"][3, 2, 1] = np.nan
    elif case == "inf target":
        good["y_valid"] = np.full(12, np.inf)
    elif case == "negative label":
        good["y_train"][4] = -1
    elif case == "label too large":
        options["classes"] = 2
        good["y_valid"][0] = 2
    elif case == "bad lengths":
        good["lengths_train"] = np.full(12, 7)
    elif case == "incomplete test":
        good["x_test"] = good["x_valid"]
    elif case == "head":
        options["head"] = "regress_last"
    elif case == "metric":
        options["metric"] = "mse"
    return npz.write(tmp_path / "d.npz", good), options


BAD = {
    "unreadable": "cannot read it as .npz: No such file or directory",
    "not npz": "not an .npz archive of named arrays",
    "missing array": "missing array y_valid (has: x_train, x_valid, y_train)",
    "unknown array": "unknown array(s) x_tset",
    "wrong shape": "y_train has 5 sequences, x_train 12",
    "wrong dtype": "x_train must be (N, T, F) numbers or (N, T) integer token ids, got bool",
    "float token ids": "x_train must be (N, T, F) numbers or (N, T) integer token ids, got float32 (12, 6)",
    "object array": "cannot read it as .npz: Object arrays cannot be loaded when allow_pickle=False",
    "features differ": "x_valid is (12, 6, 2), x_train (12, 6, 3): features must match",
    "nan": "x_valid holds NaN or inf",
    "inf target": "y_valid holds NaN or inf",
    "negative label": "y_train holds a negative label (-1)",
    "label too large": "label 2 is out of range for classes 2 (labels are 0..1)",
    "bad lengths": "lengths_train must lie in [1, 6], got 7..7",
    "incomplete test": "missing array y_test (the test split is incomplete)",
    "head": "integer y_train (12,) is one class per sequence (N,) or per step (N, T), not head regress_last",
    "metric": "metric must be accuracy or xent for head classify_last, got 'mse'",
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_is_one_line_and_nothing_in_the_store(npz: NpzData, tmp_path: Path, case: str) -> None:
    path, options = bad_file(npz, tmp_path, case)
    store = tmp_path / "bad.db"
    launched = runner.invoke(
        app, ["launch", write_spec(tmp_path, data_spec("bad", {"data": path, **options})), "--storage", f"sqlite:///{store}"]
    )
    assert launched.exit_code == 1 and launched.stdout == ""
    assert BAD[case] in launched.stderr and launched.stderr.count("\n") == 1, launched.stderr
    assert not store.exists()
    if not options:
        trained = runner.invoke(app, ["train", "--data", path])
        assert trained.exit_code == 1 and BAD[case] in trained.stderr and trained.stderr.count("\n") == 1


def test_the_task_mapping_takes_only_the_data_or_module_options(tmp_path: Path) -> None:
    data = planted(tmp_path / "planted.npz")
    for task, message in (
        (
            {"data": str(data), "sha256": "0" * 64},
            "task: a mapping is {data: PATH} (optional head, metric, direction, classes) or {module: ",
        ),
        ({"path": str(data)}, "got keys path"),
    ):
        result = runner.invoke(
            app, ["launch", write_spec(tmp_path, data_spec("opts", task)), "--storage", f"sqlite:///{tmp_path / 'x.db'}"]
        )
        assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[None]:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


@pytest.mark.xdist_group("ray")  # one Ray runtime at a time (see pyproject.toml: --dist loadgroup)
def test_the_same_study_on_ray(ray_runtime: None, tmp_path: Path) -> None:
    data = planted(tmp_path / "planted.npz")
    study, _, _ = round_trip(tmp_path, data_spec("own-ray", {"data": str(data)}), "--engine", "ray")
    assert {t.user_attrs["engine"] for t in study.trials} == {"ray"}
