"""Keeping Optuna quiet, for every package: the experimental features momentum-search uses on purpose,
and the INFO lines that repeat what the progress display shows."""

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


def quiet_optuna() -> None:
    import optuna

    # Optuna's INFO lines repeat what the progress display shows, one per trial.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
