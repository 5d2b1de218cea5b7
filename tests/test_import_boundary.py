"""The commands that only read the store, and every --help, never import torch, Ray or the trainer.

Each command runs in a fresh interpreter (this one has torch loaded) on a real stored study, which
records the modules it ended with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from momentum_search.studies import launch, parse_spec

FORBIDDEN = (
    "torch",
    "ray",
    "momentum_search.trainers._train",
    "momentum_search.trainers.cells._cell",
    "momentum_search.trainers.tasks._classes",
)
# Runs the app as the console script does, then writes the names of the loaded modules to a file.
PROBE = """
import json, os, sys
from momentum_search.cli import app
try:
    app()
except SystemExit as end:
    code = end.code
with open(os.environ["MODULES_FILE"], "w") as file:
    json.dump({"code": code, "modules": sorted(sys.modules)}, file)
"""


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A launched and confirmed study: two adding trials of a second each, the best on two held-out seeds."""
    url = f"sqlite:///{tmp_path_factory.mktemp('boundary') / 'studies.db'}"
    spec = parse_spec(
        {
            "name": "boundary",
            "task": "adding",
            "task_params": {"length": 6, "n_train": 32, "n_valid": 16, "n_test": 16},
            "cells": ["lstm", "momentum-lstm"],
            "space": {"mu": {"low": 0.0, "high": 0.9}},
            "fixed": {"hidden_size": 4, "batch_size": 16},
            "budget": {"trials": 2, "epochs": 1},
            "sampler": {"name": "random", "seed": 0},
            "pruner": {"name": "none"},
            "confirm": {"top": 1, "seeds": 2},
        }
    )
    result = launch(spec, storage=url)
    assert not result.errors and result.confirmation is not None
    return url


@pytest.mark.parametrize(
    "args",
    [
        ["studies", "list"],
        ["studies", "show", "boundary"],
        ["studies", "show", "boundary", "--json"],
        ["export", "boundary"],
        ["plot", "boundary", "--out", "{tmp}/boundary.html"],
        ["presets"],
        ["presets", "quickstart"],
        ["--help"],
        ["plot", "--help"],
        ["train", "--help"],
    ],
    ids=" ".join,
)
def test_reading_commands_import_no_torch_ray_or_trainer(args: list[str], storage: str, tmp_path: Path) -> None:
    modules_file = tmp_path / "modules.json"
    env = {**os.environ, "MOMENTUM_SEARCH_STORAGE": storage, "MODULES_FILE": str(modules_file)}
    argv = [arg.format(tmp=tmp_path) for arg in args]
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], env=env, capture_output=True, text=True, timeout=120)
    recorded = json.loads(modules_file.read_text())
    assert recorded["code"] in (0, None), done.stderr
    if "--help" not in args and args[0] != "presets":
        assert "boundary" in done.stdout  # it did read the stored study
    loaded = [m for m in recorded["modules"] if any(m == name or m.startswith(f"{name}.") for name in FORBIDDEN)]
    assert loaded == []


def test_a_command_that_trains_does_import_torch(tmp_path: Path) -> None:
    # The probe itself sees an import: without this, a probe that recorded nothing would pass every test above.
    modules_file = tmp_path / "modules.json"
    env = {**os.environ, "MODULES_FILE": str(modules_file)}
    args = [
        "train",
        "--task",
        "adding",
        "--task-param",
        "length=4",
        "--task-param",
        "n_train=8",
        "--task-param",
        "n_valid=4",
        "--task-param",
        "n_test=4",
        "--hidden-size",
        "2",
        "--epochs",
        "1",
        "--json",
    ]
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=120)
    recorded = json.loads(modules_file.read_text())
    assert recorded["code"] in (0, None), done.stderr
    assert {"torch", "momentum_search.trainers._train"} <= set(recorded["modules"])
