"""Studies with a known answer, written straight into a SQLite file the way the search engine writes them.

The grid study follows the paper's 5 × 5 μ × s grid; its objective (an MSE, minimised) is lowest at
μ = 0.6, s = 0.3 and its three seeds differ by known offsets. The plain ``lstm`` baseline sits above
every momentum point but the worst.

A module of its own rather than conftest.py: another test folder imports from its conftest.py, and
only one module can hold the name ``conftest``.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from momentum_search.search import gain
from momentum_search.studies import create_or_resume, open_storage, parse_spec

GRID_MU = (0.0, 0.1, 0.3, 0.6, 0.9)
GRID_S = (0.1, 0.3, 0.6, 0.9, 1.0)
PEAK_MU, PEAK_S = 0.6, 0.3
SEEDS = (0, 1, 2)
LSTM_VALUES = (0.30, 0.32, 0.34)
TASK_PARAMS = {"length": 6, "n_train": 16, "n_valid": 8, "n_test": 8}
STEPS = list(range(1, TASK_PARAMS["length"] + 1))


def grid_objective(mu: float, s: float, seed: int) -> float:
    # The seed offset grows with μ, so every cell of the map has its own spread.
    return 0.05 + (mu - PEAK_MU) ** 2 + (s - PEAK_S) ** 2 + 0.01 * seed * (1 + mu)


def range_objective(mu: float, s: float, seed: int) -> float:
    # μ matters far more than s, so importances must rank μ first.
    return 0.05 + (mu - PEAK_MU) ** 2 + 0.02 * math.log10(s / PEAK_S) ** 2 + 0.002 * seed


def spec(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "task": "adding",
        "task_params": TASK_PARAMS,
        "cells": ["lstm", "momentum-lstm"],
        "space": {"mu": {"points": list(GRID_MU)}, "s": {"points": list(GRID_S)}},
        "fixed": {"hidden_size": 8, "batch_size": 8},
        "budget": {"epochs": 3},
        "seeds": len(SEEDS),
        "sampler": {"name": "grid"},
        "pruner": {"name": "none"},
    }
    data.update(changes)
    return data


class StudyBuilder:
    """Adds trials with the user attrs of ``Evaluation.attrs()`` to a study created from a spec."""

    def __init__(self, url: str, spec_data: dict[str, Any]) -> None:
        self.url = url
        self.spec = parse_spec(spec_data)
        self.study, _ = create_or_resume(open_storage(url), self.spec)
        self.distributions = self.spec.search_space().distributions()

    def add(
        self,
        cell: str,
        seed_values: list[float],
        *,
        state: optuna.trial.TrialState = optuna.trial.TrialState.COMPLETE,
        curve: list[float] | None = None,
        train_time: float = 1.0,
        reason: str | None = None,
        attrs: dict[str, Any] | None = None,
        **params: float,
    ) -> optuna.trial.FrozenTrial:
        mean = sum(seed_values) / len(seed_values)
        std = 0.0 if len(seed_values) < 2 else math.sqrt(sum((v - mean) ** 2 for v in seed_values) / (len(seed_values) - 1))
        # As the engine builds it: a searched gain g becomes s = g(1−μ).
        config = self.spec.trial_plan().config({"cell": cell, **params}, seed=SEEDS[0]).resolved()
        curve = curve if curve is not None else [mean + 0.2, mean + 0.05, mean]
        complete = state == optuna.trial.TrialState.COMPLETE
        values = [mean, train_time][: len(self.study.directions)] if complete else None
        trial = optuna.trial.create_trial(
            state=state,
            values=values,
            params={"cell": cell, **params},
            distributions={name: self.distributions[name] for name in ("cell", *params)},
            user_attrs={
                "config": config.model_dump(mode="json"),
                "gain": gain(cell, s=config.s, mu=config.mu),
                "seeds": list(SEEDS[: len(seed_values)]),
                "seed_values": seed_values,
                "seed_test_values": [v + 0.01 for v in seed_values],
                "seed_best_epochs": [len(curve)] * len(seed_values),
                "seed_histories": [curve] * len(seed_values),
                "value_mean": mean,
                "value_std": std,
                "test_value": mean + 0.01,
                "metric": "mse",
                "epochs_run": len(curve) * len(seed_values),
                "wall_time": train_time * len(seed_values),
                "train_time": train_time,
                "diverged": False,
                "version": "0.1.0",
                "reason": reason,
                # As the trainer measures it on the first seed: the loss reaches further back after training.
                "gradient_flow": {
                    "init": {"t": STEPS, "norms": [0.5 ** (len(STEPS) - t) for t in STEPS], "loss": 2 * mean},
                    "trained": {"t": STEPS, "norms": [0.8 ** (len(STEPS) - t) for t in STEPS], "loss": mean},
                },
                **(attrs or {}),
            },
            intermediate_values=dict(enumerate(curve, start=1)) if len(self.study.directions) == 1 else {},
        )
        self.study.add_trial(trial)
        return self.study.trials[-1]
