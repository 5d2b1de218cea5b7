"""A study's life: created (or resumed) from a spec, run by workers, listed, shown, deleted."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from momentum_search.search import (
    REUSED_FROM_ATTR,
    STANDING_ATTRS,
    STANDING_PARAMS,
    SUMMARY_ATTRS,
    Standing,
    TrialCounts,
    TrialRecord,
    allow_experimental,
    best_trials,
    ranked,
    searched_per_kind,
)
from momentum_search.studies._spec import SpecError, StudySpec, parse_spec
from momentum_search.trainers.tasks import DATA_TASK, OBJECTIVE_TASK
from momentum_search._quiet import quiet_optuna
from momentum_search.store import (
    describe_rpc_error,
    Heartbeat,
    StorageError,
    TrialOutline,
    describe_error,
    mask_url,
    open_storage,
    query_trials,
    stored_outlines,
    stored_trials,
    study_aggregates,
)

if TYPE_CHECKING:
    import optuna

    from momentum_search.studies._confirm import Confirmation
    from optuna.storages import BaseStorage, RDBStorage

SPEC_ATTR = "spec"  # study user attr holding the validated spec as JSON


class StudyNotFoundError(LookupError):
    """No study of that name in the storage (or not one made by momentum-search)."""


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
        ours, theirs = spec.task_params.get("sha256", ""), stored.task_params.get("sha256", "")
        if stored.task == spec.task == DATA_TASK and ours != theirs:
            raise SpecError(
                f"study {spec.name!r} was launched on other data: {spec.task_params['path']} has sha256 "
                f"{ours[:12]}…, the study's {theirs[:12]}…"
            )
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
    seeds: int  # how many training seeds the value is the mean of (0: the trial trained none)
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
    directions: list[Literal["maximize", "minimize"]]
    budget: int
    counts: TrialCounts
    best: list[TrialRow]  # the best trial, or the Pareto front for two objectives
    spec: dict[str, Any] = field(repr=False)
    trials: list[TrialRow] = field(default_factory=list, repr=False)  # every trial, or the best when summarised
    confirmation: Confirmation | None = field(default=None, repr=False)  # None with two objectives
    omitted: int = 0  # trials left out of ``trials``: a large study lists only its best (see show_study)

    def to_json(self, *, with_trials: bool) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        del data["confirmation"]  # the CLI writes it with its verdicts
        if not with_trials:
            del data["trials"], data["spec"], data["omitted"]
        return _json_safe(data)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _row(record: TrialRecord, retried: set[int]) -> TrialRow:
    reason = record.reason
    if reason is None and record.number in retried:
        reason = "worker lost (no heartbeat); retried"
    return TrialRow(
        number=record.number,
        state=record.state,
        cell=record.cell,
        params=record.params,
        values=None if record.values is None else list(record.values),
        value_std=record.value_std,
        seeds=len(record.seeds),
        test_value=record.test_value,
        epochs_run=record.epochs_run,
        wall_time=record.wall_time,
        reason=reason,
    )


def _counts(states: dict[str, int], twins: int) -> TrialCounts:
    complete, pruned = states.get("COMPLETE", 0), states.get("PRUNED", 0)
    return TrialCounts(finished=complete + pruned, complete=complete, pruned=pruned, failed=states.get("FAIL", 0),
                       waiting=states.get("WAITING", 0), running=states.get("RUNNING", 0), twins=twins)  # fmt: skip


def trial_records(study: optuna.Study, **only: Any) -> list[TrialRecord]:
    """:func:`stored_trials` as records."""
    return [TrialRecord.of(trial) for trial in stored_trials(study, **only)]


def standings(study: optuna.Study) -> list[Standing]:
    """Every trial's :class:`Standing`, by number: what ranking reads, a few columns a trial."""
    return [_standing(outline) for outline in stored_outlines(study, params=STANDING_PARAMS, user_attrs=STANDING_ATTRS)]


def _standing(outline: TrialOutline) -> Standing:
    return Standing.of(outline.number, outline.state, outline.values, outline.params, outline.user_attrs)


# A study of more trials than this lists only its best SHOW_TOP in ``studies show`` (all_trials: every one).
# Beyond a few hundred rows a terminal no longer shows them anyway, and a browser slows on JSON that size.
SHOW_ALL_UP_TO = 500
SHOW_TOP = 50
_RETRY_HISTORY = "retry_history"  # Optuna's system attr on a retried copy: the numbers it retries


def summarize(study: optuna.Study, *, all_trials: bool = False) -> StudySummary:
    """The summary of a momentum-search study: every trial up to ``SHOW_ALL_UP_TO``, else the best
    ``SHOW_TOP`` (all of them with ``all_trials``). Reads the trials' summary attrs, no curve; of a
    larger study only the trials it shows (listed, best, confirmation candidates), chosen by the same
    rules from every trial's standing (:func:`standings`), which also gives the counts."""
    # Imported here: it builds on this module.
    from momentum_search.studies._confirm import CONFIRMS_ATTR, candidate_roles, held_study, read_confirmation

    spec = study_spec(study)
    directions, direction = spec.objective.directions, spec.objective.direction
    assert spec.objective.metric is not None and direction is not None
    outlines = stored_outlines(study, params=STANDING_PARAMS, user_attrs=STANDING_ATTRS, system_attrs=(_RETRY_HISTORY,))
    held = held_study(study) if len(directions) == 1 and CONFIRMS_ATTR not in study.user_attrs else None
    only: dict[str, Any] = {"user_attrs": SUMMARY_ATTRS, "system_attrs": (), "curves": False}
    ranks = [_standing(outline) for outline in outlines]
    if all_trials or len(outlines) <= SHOW_ALL_UP_TO:
        rows = listed = trial_records(study, **only)
        omitted = 0
    else:
        wanted = {t.number for t in (*ranked(ranks, direction)[:SHOW_TOP], *best_trials(ranks, directions))}
        if held is not None:
            wanted |= {t.number for t, _ in candidate_roles(ranks, direction=direction, top=held[1])}
        # The same rules on just these trials give the same answers: every trial they pick is here.
        rows = trial_records(study, numbers=wanted, **only)
        listed = ranked(rows, direction)[:SHOW_TOP]
        omitted = len(outlines) - len(listed)
    retried = {o.system_attrs[_RETRY_HISTORY][-1] for o in outlines if o.system_attrs.get(_RETRY_HISTORY)}
    return StudySummary(
        name=study.study_name,
        task=spec.task,
        cells=spec.cells,
        metric=spec.objective.metric,
        directions=directions,
        budget=spec.trials,
        counts=_counts(Counter(t.state for t in ranks), sum(t.twin for t in ranks)),
        best=[_row(record, retried) for record in best_trials(rows, directions)],
        spec=spec.to_json(),
        trials=[_row(record, retried) for record in listed],
        confirmation=None if held is None else read_confirmation(study, rows, held=held, searched=searched_per_kind(ranks)),
        omitted=omitted,
    )


def list_studies(storage: str | None = None) -> list[StudySummary]:
    """Every momentum-search study in ``storage`` (studies without a spec are skipped), without its
    trials: counts and best values come from SQL aggregates, and only the best trials are read."""
    from momentum_search.studies._confirm import CONFIRMS_ATTR, confirmation_name, top_confirmation

    quiet_optuna()
    backend = open_storage(storage, read_only=True)
    aggregates = study_aggregates(backend, count_attrs=(REUSED_FROM_ATTR,))
    names = {aggregate.name for aggregate in aggregates}
    summaries = []
    for aggregate in aggregates:
        if SPEC_ATTR not in aggregate.user_attrs:
            continue
        spec = parse_spec(aggregate.user_attrs[SPEC_ATTR], source=f"stored spec of study {aggregate.name}", here=False)
        directions = spec.objective.directions
        only: dict[str, Any] = {"user_attrs": SUMMARY_ATTRS, "system_attrs": (), "curves": False}
        if len(directions) > 1:  # the Pareto front needs every COMPLETE trial's values
            found = query_trials(backend, aggregate.study_id, states=("COMPLETE",), **only)
        elif aggregate.best_value is not None:
            found = query_trials(backend, aggregate.study_id, best_value=aggregate.best_value, **only)
        else:
            found = []
        best = best_trials([TrialRecord.of(trial) for trial in found], directions)
        confirmation = None
        if len(directions) == 1 and CONFIRMS_ATTR not in aggregate.user_attrs and best:
            held = confirmation_name(aggregate.name)
            confirmation = top_confirmation(backend, aggregate.name, spec, best[0], held if held in names else None)
        assert spec.objective.metric is not None
        summaries.append(StudySummary(
            name=aggregate.name, task=spec.task, cells=spec.cells, metric=spec.objective.metric, directions=directions,
            budget=spec.trials, counts=_counts(aggregate.states, aggregate.attr_counts[REUSED_FROM_ATTR]), best=[_row(record, set()) for record in best],
            spec=spec.to_json(), confirmation=confirmation,
        ))  # fmt: skip
    return summaries


def show_study(name: str, *, storage: str | None = None, all_trials: bool = False) -> StudySummary:
    """The summary of study ``name`` (see :func:`summarize`)."""
    quiet_optuna()
    return summarize(load(open_storage(storage, read_only=True), name), all_trials=all_trials)


def delete_study(name: str, *, storage: str | None = None) -> None:
    """Delete study ``name`` and all its trials, and its confirmation study if it has one.

    Raises:
        StudyNotFoundError: no such study.
    """
    import optuna

    from momentum_search.studies._confirm import confirmation_name, seed_runs_name

    backend = open_storage(storage)
    load(backend, name)
    optuna.delete_study(study_name=name, storage=backend)
    names = optuna.get_all_study_names(backend)
    for held in (confirmation_name(name), seed_runs_name(name)):
        if held in names:
            optuna.delete_study(study_name=held, storage=backend)


# ---- running ----------------------------------------------------------------------------------


def check_task(spec: StudySpec) -> None:
    """Build the spec's task once (import an objective function's module), so that missing data, bad task
    parameters or code that does not import fail before any work.

    Raises:
        SpecError: naming ``task_params`` and the task's complaint.
    """
    from momentum_search.trainers import get_task
    from momentum_search.trainers._imports import load_function

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
