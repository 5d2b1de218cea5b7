"""Running a study's queue: K local worker processes (or Ray Tune) for a launch, one worker on its own,
and what a launch returns. Both launch and confirm (its held-out seeds) run their trials here."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from momentum_search._quiet import quiet_optuna
from momentum_search.search import (
    LiveTrial,
    TrialCounts,
    check_address,
    count_trials,
    fail_orphaned_trials,
)
from momentum_search.store import (
    Heartbeat,
    StorageError,
    describe_error,
    describe_rpc_error,
    fail_stale_trials,
    mask_url,
    open_storage,
)
from momentum_search.studies._confirmation import Confirmation
from momentum_search.studies._spec import SpecError, StudySpec, with_overrides
from momentum_search.studies._study import create_or_resume, load, study_spec
from momentum_search.trainers.tasks import DATA_TASK, OBJECTIVE_TASK

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

    import optuna

    from momentum_search.store import Storage

MAX_WORKERS = 64
Engine = Literal["optuna", "ray"]
ENGINES = ("optuna", "ray")


@dataclass(frozen=True)
class RunningTrial:
    number: int | None  # None: a Ray PBT member, added to the study when it ends
    params: dict[str, Any]  # cell included
    epoch: int | None  # the first seed's last reported epoch (single objective only)
    value: float | None  # its validation metric


@dataclass(frozen=True)
class Progress:
    """A study while it runs, as the launcher sees it in the storage."""

    study: str
    budget: int
    counts: TrialCounts
    best_values: list[float] | None  # the best trial's values; None before the first COMPLETE
    running: list[RunningTrial]
    elapsed: float


@dataclass(frozen=True)
class LaunchResult:
    study: str
    storage: str  # password masked
    resumed: bool
    enqueued: int
    workers: int
    threads: int
    progress: Progress
    errors: list[str]
    interrupted: bool
    engine: Engine = "optuna"  # on Ray, workers is how many trials run at once, threads the CPUs per trial
    confirmation: ConfirmResult | None = None  # the spec's confirmation, run once the budget is spent


@dataclass(frozen=True)
class ConfirmResult:
    confirmation: Confirmation
    queued: int  # configurations trained by this run (0: everything was confirmed already)
    launch: LaunchResult | None  # None when nothing was trained


class Search(NamedTuple):
    """What :func:`launch_search` ran: its result, the spec with the launch's overrides, and the storage."""

    result: LaunchResult
    spec: StudySpec
    backend: Storage


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of ``workers`` local processes, so that they share the cores instead of fighting."""
    return max(1, available_cores() // workers)


def launch_search(
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
) -> Search:
    """What :func:`~momentum_search.studies.launch` does before it confirms: create or resume the study,
    enqueue its budget and run it on ``workers`` local workers (or Ray); the launch's result (its
    ``confirmation`` None), the spec it ran with its overrides, and the storage."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be in [1, {MAX_WORKERS}], got {workers}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    ray_options = {"ray_address": ray_address, "cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial}
    if engine == "optuna" and any(value is not None for value in ray_options.values()):
        given = ", ".join(name for name, value in ray_options.items() if value is not None)
        raise ValueError(f"{given}: only for engine ray")
    if engine == "ray" and workers != 1:
        raise ValueError("workers: only for engine optuna; Ray runs as many trials at once as cpus_per_trial allows")
    if ray_address is not None:
        check_address(ray_address)
    quiet_optuna()
    if spec is None:
        if study is None:
            raise SpecError("nothing to launch: give a spec file, a preset, or the name of a study to resume")
        backend = open_storage(storage, heartbeat=heartbeat)
        spec = with_overrides(study_spec(load(backend, study)), trials=trials, timeout=timeout)
        check_task(spec)
    else:
        spec = with_overrides(spec, name=study, trials=trials, timeout=timeout)
        check_task(spec)
        backend = open_storage(storage, heartbeat=heartbeat)

    ray_engine = None
    if engine == "ray":
        ray_engine = spec.ray_engine(
            cpus_per_trial=1 if cpus_per_trial is None else cpus_per_trial,
            gpus_per_trial=0.0 if gpus_per_trial is None else gpus_per_trial,
        )
    # The study and its queue are written whole or not at all (a full disk leaves no half-written queue).
    with backend.one_transaction():
        optuna_study, resumed = create_or_resume(backend, spec)
        # Dead workers' trials, and a killed Ray driver's on this host, count as pending again.
        fail_stale_trials(optuna_study)
        fail_orphaned_trials(optuna_study, backend)
        enqueued = (spec.engine() if ray_engine is None else ray_engine).top_up(optuna_study, spec.trials)
    threads = threads_per_worker(workers)
    run = _Run(spec.name, backend.url, threads, spec.budget.timeout, heartbeat, poll_interval)

    started = time.monotonic()
    done = threading.Event()

    def report() -> Progress:
        live = None if ray_engine is None else ray_engine.live()
        return _progress(optuna_study, spec.trials, time.monotonic() - started, live=live)

    def watch() -> None:
        assert on_progress is not None
        while not done.wait(poll_interval):
            on_progress(report())

    watcher = threading.Thread(target=watch, name="momentum-search-progress", daemon=True)
    if on_progress is not None:
        on_progress(report())
        watcher.start()
    try:
        with sigterm_as_interrupt():  # SIGTERM stops the launch as Ctrl-C does
            if ray_engine is not None:
                ray_run = ray_engine.run(backend, spec.name, budget=spec.trials, address=ray_address, timeout=spec.budget.timeout)
                errors, interrupted = ray_run.errors, ray_run.interrupted
                workers, threads = ray_run.slots, ray_engine.cpus_per_trial
            else:
                # One worker runs here (no interpreter to start, Ctrl-C reaches the trial directly); more
                # run in spawned processes, each with its share of the cores.
                errors, interrupted = run.here() if workers == 1 else run.in_processes(workers)
    finally:
        done.set()
        if watcher.is_alive():
            watcher.join()
    final = report()
    if on_progress is not None:
        on_progress(final)
    result = LaunchResult(
        study=spec.name,
        storage=mask_url(backend.url),
        resumed=resumed,
        enqueued=enqueued,
        workers=workers,
        threads=threads,
        progress=final,
        errors=errors,
        interrupted=interrupted,
        engine=engine,
    )
    return Search(result, spec, backend)


@dataclass(frozen=True)
class _Run:
    """What every worker of one launch gets; returns (error messages, interrupted)."""

    study_name: str
    url: str
    threads: int
    timeout: float | None
    heartbeat: Heartbeat
    poll_interval: float

    def here(self) -> tuple[list[str], bool]:
        try:
            _work(self, should_stop=lambda: False)
        except KeyboardInterrupt:
            return [], True
        except Exception as error:
            return [f"worker 0: {error}"], False
        return [], False

    def in_processes(self, workers: int) -> tuple[list[str], bool]:
        context = multiprocessing.get_context("spawn")
        stop = context.Event()
        errors = context.Queue()
        processes = [
            context.Process(
                target=_worker_process,
                args=(self, index, stop, errors),
                name=f"momentum-search-worker-{index}",
                daemon=True,
            )
            for index in range(workers)
        ]
        interrupted = False
        # A spawned interpreter keeps an ignored SIGINT ignored, so Ctrl-C in the terminal reaches only the
        # launcher, which then stops the workers through the `stop` event: no half-written trial.
        with handling_signal(signal.SIGINT, signal.SIG_IGN):
            for process in processes:
                process.start()
        try:
            while any(process.is_alive() for process in processes):
                multiprocessing.connection.wait([p.sentinel for p in processes])
        except KeyboardInterrupt:
            interrupted = True
            stop.set()  # each worker fails and re-enqueues its trial at the next batch, then exits
            for process in processes:
                process.join()
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                    process.join()
        reported = dict(_drain(errors))
        messages = [
            reported.get(index, f"worker {index} exited with code {process.exitcode}")
            for index, process in enumerate(processes)
            if process.exitcode != 0
        ]
        return messages, interrupted


def _work(run: _Run, *, should_stop: Callable[[], bool]) -> int:
    return run_worker(
        run.study_name,
        storage=run.url,
        threads=run.threads,
        timeout=run.timeout,
        heartbeat=run.heartbeat,
        should_stop=should_stop,
        poll_interval=run.poll_interval,
    )


def _worker_process(run: _Run, index: int, stop: Event, errors: multiprocessing.Queue[tuple[int, str]]) -> None:
    try:
        _work(run, should_stop=stop.is_set)
    except KeyboardInterrupt:
        return  # asked to stop; the trial is already re-enqueued
    except Exception as error:
        errors.put((index, f"worker {index}: {error}"))
        raise SystemExit(1) from None


def _drain(errors: multiprocessing.Queue[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    while True:
        try:
            yield errors.get(timeout=0.1)
        except queue.Empty:
            return


def _progress(study: optuna.Study, budget: int, elapsed: float, *, live: list[LiveTrial] | None = None) -> Progress:
    """The study's progress; ``live`` (from the Ray engine) replaces the RUNNING trials of the storage."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [trial for trial in trials if trial.state == TrialState.COMPLETE]
    best_values = None
    if complete:
        best_values = list(study.best_trial.values) if len(study.directions) == 1 else None
    if live is not None:
        running = [RunningTrial(trial.number, trial.params, trial.epoch, trial.value) for trial in live]
    else:
        running = []
        for trial in trials:
            if trial.state == TrialState.RUNNING:
                epoch = trial.last_step
                value = None if epoch is None else trial.intermediate_values[epoch]
                running.append(RunningTrial(trial.number, dict(trial.params), epoch, value))
    return Progress(
        study=study.study_name,
        budget=budget,
        counts=count_trials(trials),
        best_values=best_values,
        running=running,
        elapsed=elapsed,
    )


# ---- a worker started on its own (``momentum-search worker``) ------------------------------------


def check_task(spec: StudySpec) -> None:
    """Build the spec's task once (import an objective function's module), so that missing data, bad task
    parameters or code that does not import fail before any work.

    Raises:
        SpecError: naming ``task_params`` and the task's complaint.
    """
    from momentum_search.trainers import get_task
    from momentum_search.trainers import load_function

    user = spec.user_objective()
    try:
        if user is not None:
            load_function(user.function, f"objective {user.function}")
        else:
            get_task(spec.task, **spec.task_params)
    except (ValueError, TypeError, OSError) as error:
        raise SpecError(f"task_params (task {spec.task}): {error}") from None


@contextlib.contextmanager
def handling_signal(signum: signal.Signals, handler: Any) -> Iterator[None]:
    """``signal.signal(signum, handler)`` inside the block, the previous handler after it; a no-op
    outside the main thread, which alone may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def sigterm_as_interrupt() -> contextlib.AbstractContextManager[None]:
    """Inside the block SIGTERM (``kill``, a service manager, a cluster's scheduler) stops the
    process like Ctrl-C: as KeyboardInterrupt, so running trials are failed and queued again."""
    return handling_signal(signal.SIGTERM, signal.default_int_handler)


def run_worker(
    study_name: str,
    *,
    storage: str | None = None,
    threads: int | None = None,
    timeout: float | None = None,
    heartbeat: Heartbeat = Heartbeat(),
    should_stop: Callable[[], bool] = lambda: False,
    poll_interval: float = 1.0,
) -> int:
    """Run WAITING trials of study ``name`` until none are left (or ``timeout`` seconds pass);
    returns how many this worker ran. Everything it needs is read from the stored spec.

    Raises:
        StorageError, StudyNotFoundError: before any trial runs.
        KeyboardInterrupt: after failing and re-enqueueing the interrupted trial.
    """
    import time

    from optuna.exceptions import StorageInternalError

    if threads is not None and threads < 1:
        raise ValueError(f"threads must be ≥ 1, got {threads}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    quiet_optuna()
    backend = open_storage(storage, heartbeat=heartbeat)
    spec = study_spec(load(backend, study_name))
    if spec.task in (DATA_TASK, OBJECTIVE_TASK):
        check_task(spec)  # a worker whose data file differs from the study's, or whose code does not import, does not join
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        with sigterm_as_interrupt():
            return spec.engine(threads=threads).run(
                backend, study_name, deadline=deadline, should_stop=should_stop, poll_interval=poll_interval
            )
    except StorageInternalError as error:
        raise StorageError(f"storage {mask_url(backend.url)} failed: {describe_error(error)}") from None
    except Exception as error:
        message = describe_rpc_error(error)
        if message is None:
            raise
        raise StorageError(f"storage proxy {backend.url} failed: {message}") from None
