"""A study's life: created (or resumed) from a spec, run by workers, listed, shown, deleted."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from momentum_search.search import CELL_PARAMETER, REASON_ATTR, TrialCounts, allow_experimental, count_trials
from momentum_search.studies._spec import SpecError, StudySpec, parse_spec
from momentum_search.studies._storage import (
    Heartbeat,
    StorageError,
    describe_error,
    mask_url,
    open_storage,
    stored_trials,
)

if TYPE_CHECKING:
    import optuna

    from momentum_search.studies._confirm import Confirmation
    from optuna.storages import BaseStorage, RDBStorage
    from optuna.trial import FrozenTrial

SPEC_ATTR = "spec"  # study user attr holding the validated spec as JSON


class StudyNotFoundError(LookupError):
    """No study of that name in the storage (or not one made by momentum-search)."""


def quiet_optuna() -> None:
    import optuna

    # Optuna's INFO lines repeat what the progress display shows, one per trial.
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def study_spec(study: optuna.Study) -> StudySpec:
    """The spec stored in ``study`` (by :func:`create_or_resume`).

    Raises:
        StudyNotFoundError: the study was not created by momentum-search.
    """
    data = study.user_attrs.get(SPEC_ATTR)
    if data is None:
        raise StudyNotFoundError(f"study {study.study_name!r} has no momentum-search spec (user attr {SPEC_ATTR!r})")
    return parse_spec(data, source=f"stored spec of study {study.study_name}", here=False)


def load(storage: BaseStorage, name: str) -> optuna.Study:
    """Load study ``name``.

    Raises:
        StudyNotFoundError: naming the studies that do exist.
    """
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        known = f"studies here: {', '.join(names)}" if names else "the storage holds no study"
        raise StudyNotFoundError(f"no study named {name!r}; {known}") from None


def create_or_resume(storage: RDBStorage, spec: StudySpec) -> tuple[optuna.Study, bool]:
    """Create study ``spec.name``, or resume it if it exists; returns the study and whether it existed.

    A resumed study must search the same thing: only the budget (and description) may change.

    Raises:
        SpecError: the existing study was created from a different spec.
    """
    import optuna

    if spec.name in optuna.get_all_study_names(storage):
        study = load(storage, spec.name)
        stored = study_spec(study)
        if not stored.same_search(spec):
            raise SpecError(
                f"study {spec.name!r} exists with a different spec; only budget and description may change "
                f"on resume (pick another name with --study, or delete it first)"
            )
        resumed = True
    else:
        study = optuna.create_study(storage=storage, study_name=spec.name, directions=spec.objective.directions)
        assert spec.objective.metric is not None
        with allow_experimental():
            study.set_metric_names([spec.objective.metric, "train_time"][: len(spec.objective.directions)])
        resumed = False
    study.set_user_attr(SPEC_ATTR, spec.to_json())
    return study, resumed


# ---- summaries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialRow:
    """One trial as listed by ``studies show``."""

    number: int
    state: str
    cell: str | None
    params: dict[str, Any]
    values: list[float] | None
    value_std: float | None
    test_value: float | None
    epochs_run: int | None
    wall_time: float | None
    reason: str | None


@dataclass(frozen=True)
class StudySummary:
    """A study at a glance: spec, budget, trials by state, best trial(s)."""

    name: str
    task: str
    cells: tuple[str, ...]
    metric: str
    directions: list[str]
    budget: int
    counts: TrialCounts
    best: list[TrialRow]  # the best trial, or the Pareto front for two objectives
    spec: dict[str, Any] = field(repr=False)
    trials: list[TrialRow] = field(default_factory=list, repr=False)
    confirmation: Confirmation | None = field(default=None, repr=False)  # None with two objectives

    def to_json(self, *, with_trials: bool) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        del data["confirmation"]  # the CLI writes it with its verdicts
        if not with_trials:
            del data["trials"], data["spec"]
        return _json_safe(data)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _row(trial: FrozenTrial, retried: set[int]) -> TrialRow:
    reason = trial.user_attrs.get(REASON_ATTR)
    if reason is None and trial.number in retried:
        reason = "worker lost (no heartbeat); retried"
    params = {key: value for key, value in trial.params.items() if key != CELL_PARAMETER}
    return TrialRow(
        number=trial.number,
        state=trial.state.name,
        cell=trial.params.get(CELL_PARAMETER),
        params=params,
        values=trial.values,
        value_std=trial.user_attrs.get("value_std"),
        test_value=trial.user_attrs.get("test_value"),
        epochs_run=trial.user_attrs.get("epochs_run"),
        wall_time=trial.user_attrs.get("wall_time"),
        reason=reason,
    )


def best_of(study: optuna.Study, trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """``study.best_trials`` (the best trials, ties included, or the Pareto front) among ``trials``.

    One objective is ranked here: ``study.best_trials`` would read and copy every trial once more.
    A trial that copied a twin's result (user attr ``reused_from``) is not listed next to its twin.
    """
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if len(study.directions) > 1 or not complete:
        best = study.best_trials if complete else []
    else:
        pick = min if study.direction.name == "MINIMIZE" else max
        value = pick(t.values[0] for t in complete)
        best = [t for t in complete if t.values[0] == value]
    return [t for t in best if "reused_from" not in t.user_attrs]


def summarize(study: optuna.Study) -> StudySummary:
    """The summary of a momentum-search study."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    spec = study_spec(study)
    trials = stored_trials(study)
    with allow_experimental():
        histories = [RetryHeartbeatStaleTrialCallback.retry_history(trial) for trial in trials]
    retried = {history[-1] for history in histories if history}
    best = best_of(study, trials)
    assert spec.objective.metric is not None
    from momentum_search.studies._confirm import CONFIRMS_ATTR, read_confirmation  # it builds on this module

    confirmable = len(spec.objective.directions) == 1 and CONFIRMS_ATTR not in study.user_attrs
    return StudySummary(
        name=study.study_name,
        task=spec.task,
        cells=spec.cells,
        metric=spec.objective.metric,
        directions=spec.objective.directions,
        budget=spec.trials,
        counts=count_trials(trials),
        best=[_row(trial, retried) for trial in sorted(best, key=lambda t: t.number)],
        spec=spec.to_json(),
        trials=[_row(trial, retried) for trial in trials],
        confirmation=read_confirmation(study, trials) if confirmable else None,
    )


def list_studies(storage: str | None = None) -> list[StudySummary]:
    """Every momentum-search study in ``storage`` (studies without a spec are skipped)."""
    import optuna

    quiet_optuna()
    backend = open_storage(storage, read_only=True)
    summaries = []
    for name in optuna.get_all_study_names(backend):
        try:
            summaries.append(summarize(load(backend, name)))
        except StudyNotFoundError:
            continue
    return summaries


def show_study(name: str, *, storage: str | None = None) -> StudySummary:
    """The summary of study ``name``, with every trial."""
    quiet_optuna()
    return summarize(load(open_storage(storage, read_only=True), name))


def delete_study(name: str, *, storage: str | None = None) -> None:
    """Delete study ``name`` and all its trials, and its confirmation study if it has one.

    Raises:
        StudyNotFoundError: no such study.
    """
    import optuna

    from momentum_search.studies._confirm import confirmation_name

    backend = open_storage(storage)
    load(backend, name)
    optuna.delete_study(study_name=name, storage=backend)
    if confirmation_name(name) in optuna.get_all_study_names(backend):
        optuna.delete_study(study_name=confirmation_name(name), storage=backend)


# ---- running ----------------------------------------------------------------------------------


def check_task(spec: StudySpec) -> None:
    """Build the spec's task once, so that missing data or bad task parameters fail before any work.

    Raises:
        SpecError: naming ``task_params`` and the task's complaint.
    """
    from momentum_search.trainers import get_task

    try:
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
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        with sigterm_as_interrupt():
            return spec.engine(threads=threads).run(
                backend, study_name, deadline=deadline, should_stop=should_stop, poll_interval=poll_interval
            )
    except StorageInternalError as error:
        raise StorageError(f"storage {mask_url(backend.url)} failed: {describe_error(error)}") from None
    except Exception as error:
        from momentum_search.studies._proxy import describe_rpc_error

        message = describe_rpc_error(error)
        if message is None:
            raise
        raise StorageError(f"storage proxy {backend.url} failed: {message}") from None
