"""Optuna features marked experimental that momentum-search uses on purpose."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def allow_experimental() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning inside the block.

    For: heartbeats, their retry callback and stale-trial failing (what brings a SIGKILLed worker's
    trial back), multivariate/group TPE and GP (what conditional spaces need), metric names.
    """
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield
