"""The moment a budget overran: workers emptying the queue together. Four processes, each with its own
connection pool, claim and finish the 16 queued trials of a study at once, round after round, on
every backend and both of the store's paths; every round must end with exactly 16 trials.

Before claims left ``Study.ask`` out, the public path created a trial whenever the queue emptied under
a claim (17 or 18 trials of 16 on PostgreSQL and MariaDB). ``RACE_ROUNDS=20`` runs 20 rounds.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.synchronize import Barrier

import optuna
import pytest
from optuna.trial import TrialState

from momentum_search.studies import open_storage

WORKERS, QUEUED = 4, 16
ROUNDS = int(os.environ.get("RACE_ROUNDS", "3"))


def _race(url: str, names: list[str], start: Barrier, done: multiprocessing.Queue[list[int]]) -> None:
    """One worker: for each study, wait for the others, then claim and finish trials until none is left."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        start.wait(timeout=120)
        mine = []
        while (trial := storage.claim_trial(study)) is not None:
            mine.append(trial.number)
            assert storage.finish_trial(study, trial, TrialState.COMPLETE, attrs={}, values=[0.0])
        done.put(mine)


@pytest.mark.usefixtures("api")
def test_workers_emptying_the_queue_together_create_no_trial(storage_url: str, study_name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(storage_url)
    names = [f"{study_name}-{round_}" for round_ in range(ROUNDS)]
    for name in names:
        study = optuna.create_study(storage=storage, study_name=name)
        for _ in range(QUEUED):
            study.enqueue_trial({})
    context = multiprocessing.get_context("spawn")
    start, done = context.Barrier(WORKERS), context.Queue()
    workers = [context.Process(target=_race, args=(storage_url, names, start, done)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    claims = [done.get(timeout=300) for _ in range(WORKERS * ROUNDS)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sorted(n for mine in claims for n in mine) == sorted(list(range(QUEUED)) * ROUNDS)  # each claimed once
    for name in names:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        assert [(t.number, t.state) for t in trials] == [(n, TrialState.COMPLETE) for n in range(QUEUED)], name
