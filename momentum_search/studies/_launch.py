"""Launch a study: validate, reach the storage, enqueue the budget, run K local workers (or Ray Tune),
then confirm its best on held-out seeds if the spec asks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from momentum_search.store import Heartbeat
from momentum_search.studies._confirm import confirm
from momentum_search.studies._spec import StudySpec
from momentum_search.studies._workers import Engine, LaunchResult, Progress, launch_search


def launch(
    spec: StudySpec | None = None,
    *,
    study: str | None = None,
    storage: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    workers: int = 1,
    heartbeat: Heartbeat = Heartbeat(),
    on_progress: Callable[[Progress], None] | None = None,
    poll_interval: float = 1.0,
    engine: Engine = "optuna",
    ray_address: str | None = None,
    cpus_per_trial: int | None = None,
    gpus_per_trial: float | None = None,
) -> LaunchResult:
    """Create or resume a study and run it on ``workers`` local workers until its budget is spent.

    One worker runs in this process; more run as spawned processes. Workers started elsewhere with
    :func:`run_worker` (``momentum-search worker``) share the same queue.

    Args:
        spec: the study spec; None resumes the existing study named ``study`` from its stored spec.
        study: the study name (default: ``spec.name``).
        storage: SQLAlchemy URL (default: ``$MOMENTUM_SEARCH_STORAGE`` or ``momentum-search.db``).
        trials: total budget, finished trials of earlier launches included (default: the spec's).
        timeout: seconds after which no new trial starts (running ones finish).
        workers: local workers, each with ``cores // workers`` torch threads.
        heartbeat: dead-worker detection and retry settings.
        on_progress: called with the study's progress about every ``poll_interval`` seconds.
        engine: ``optuna`` (the workers above) or ``ray`` (Ray Tune on a local runtime, or on the
            cluster at ``ray_address``; see :class:`~momentum_search.search.RayEngine`).
        ray_address, cpus_per_trial, gpus_per_trial: Ray only: the cluster (e.g. ``127.0.0.1:6379``),
            and the CPUs (default 1, also the trial's torch threads) and GPUs (default 0) per trial.

    Everything is checked before anything is written: the spec and options, the task's data, and
    the storage connection (on Ray, the cluster and its resources are checked once the budget is
    enqueued: a failed launch leaves the queue for the next one). Ctrl-C stops the workers, fails
    and re-enqueues their trials, and returns with ``interrupted=True``; launching again resumes. SIGTERM
    does the same.

    A spec with ``confirm`` set confirms the study once its budget is spent (see
    :func:`~momentum_search.studies.confirm`); the result is ``confirmation``.

    Raises:
        SpecError, ValueError: invalid spec or option.
        StorageError: the storage cannot be reached.
        StudyNotFoundError: resuming a study that does not exist.
    """
    search = launch_search(
        spec,
        study=study,
        storage=storage,
        trials=trials,
        timeout=timeout,
        workers=workers,
        heartbeat=heartbeat,
        on_progress=on_progress,
        poll_interval=poll_interval,
        engine=engine,
        ray_address=ray_address,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
    )
    result, spec = search.result, search.spec
    if spec.confirm is None or result.interrupted or result.errors or result.progress.counts.finished < spec.trials:
        return result
    # On the Optuna engine whatever the search ran on: a confirmation is a few fixed trials.
    confirmation = confirm(
        spec.name, backend=search.backend, workers=result.workers if engine == "optuna" else 1, on_progress=on_progress
    )
    return dataclasses.replace(result, confirmation=confirmation)
