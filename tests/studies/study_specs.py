"""Study specs small enough for tests (a module of its own: spawned workers import it by name)."""

from __future__ import annotations

from typing import Any


def tiny_spec(name: str, /, **changes: Any) -> dict[str, Any]:
    """A study spec whose trials take a fraction of a second: adding, length 8, hidden 4, 2 epochs."""
    spec: dict[str, Any] = {
        "name": name,
        "task": "adding",
        "task_params": {"length": 8, "n_train": 64, "n_valid": 32, "n_test": 32},
        "cells": ["lstm", "momentum-lstm"],
        "space": {"mu": {"low": 0.0, "high": 0.9}, "s": {"low": 0.1, "high": 1.0, "log": True}},
        "fixed": {"hidden_size": 4, "batch_size": 32},
        "budget": {"trials": 4, "epochs": 2},
        "pruner": {"name": "none"},
    }
    spec.update(changes)
    return spec
