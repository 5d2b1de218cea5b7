"""Fixtures: the known-answer studies of known_studies.py, and a headless system Chromium."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from known_studies import GRID_MU, GRID_S, LSTM_VALUES, SEEDS, StudyBuilder, grid_objective, range_objective, spec


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


# Built once per session (tests only read them): each takes a couple of seconds of SQLite commits.
@pytest.fixture(scope="session")
def grid_study(tmp_path_factory: pytest.TempPathFactory) -> StudyBuilder:
    """The paper's 5 × 5 grid for momentum-lstm, an lstm baseline, and one pruned trial."""
    builder = StudyBuilder(f"sqlite:///{tmp_path_factory.mktemp('grid') / 'studies.db'}", spec("grid"))
    builder.add("lstm", list(LSTM_VALUES))
    for mu in GRID_MU:
        for s in GRID_S:
            builder.add("momentum-lstm", [grid_objective(mu, s, seed) for seed in SEEDS], mu=mu, s=s)
    builder.add(
        "momentum-lstm",
        [2.0],
        state=optuna.trial.TrialState.PRUNED,
        curve=[2.5, 2.0],
        reason="pruned: seed 0 after epoch 2",
        mu=0.9,
        s=1.0,
    )
    return builder


@pytest.fixture(scope="session")
def range_study(tmp_path_factory: pytest.TempPathFactory) -> StudyBuilder:
    """40 momentum-lstm trials at random μ ∈ [0, 0.95], s ∈ [0.05, 2] (log), two lstm baselines."""
    space = {"mu": {"low": 0.0, "high": 0.95}, "s": {"low": 0.05, "high": 2.0, "log": True}}
    url = f"sqlite:///{tmp_path_factory.mktemp('ranges') / 'studies.db'}"
    builder = StudyBuilder(
        url, spec("ranges", space=space, sampler={"name": "random", "seed": 0}, budget={"trials": 50, "epochs": 3})
    )
    sample = optuna.samplers.RandomSampler(seed=1)
    draws = optuna.create_study(sampler=sample)
    for _ in range(40):
        trial = draws.ask()
        mu, s = trial.suggest_float("mu", 0.0, 0.95), trial.suggest_float("s", 0.05, 2.0, log=True)
        draws.tell(trial, 0.0)
        builder.add("momentum-lstm", [range_objective(mu, s, seed) for seed in SEEDS], mu=mu, s=s)
    builder.add("lstm", [0.40, 0.41, 0.42])
    builder.add("lstm", [0.45, 0.46, 0.47])
    return builder


@pytest.fixture
def make_study(storage_url: str) -> Callable[..., StudyBuilder]:
    return lambda name, **changes: StudyBuilder(storage_url, spec(name, **changes))


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Any:
    """Headless system Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    from momentum_search.dashboards import find_browser

    path = find_browser()
    if path is None:
        pytest.skip("no Chrome or Chromium installed (CI installs chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
