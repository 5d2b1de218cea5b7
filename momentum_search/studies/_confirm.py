"""Confirming a study: its candidates retrained on held-out seeds (what a confirmation is, and reading
one: ``_confirmation.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from momentum_search._quiet import quiet_optuna
from momentum_search.search import (
    REASON_ATTR,
    SOURCE_ATTR,
    SUMMARY_ATTRS,
    TRIAL_SEEDS_ATTR,
    WORKER_ATTR,
    finished_attrs,
    merged_attrs,
    point_key,
    searched_per_kind,
    trial_params,
)
from momentum_search.store import (
    open_storage,
    stored_trials,
)
from momentum_search.studies._confirmation import (
    CONFIRMS_ATTR,
    DEFAULT_SEEDS,
    DEFAULT_TOP,
    TOP_ATTR,
    Candidate,
    candidates,
    held_out_seeds,
    read_confirmation,
)
from momentum_search.studies._spec import SpecError, StudySpec, parse_spec
from momentum_search.studies._study import (
    confirmation_name,
    create_or_resume,
    load,
    seed_runs_name,
    study_spec,
    trial_records,
)
from momentum_search.studies._workers import ConfirmResult, LaunchResult, Progress, launch_search

if TYPE_CHECKING:
    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial


def confirmation_spec(spec: StudySpec, *, seeds: int) -> StudySpec:
    """The spec of ``spec``'s confirmation study: the same trials on ``seeds`` held-out seeds, run to
    their last epoch, with no sampler of its own (every trial is queued with its parameters)."""
    data = spec.to_json()
    data.update(
        name=confirmation_name(spec.name),
        description=f"confirmation of {spec.name} on {seeds} held-out seeds",
        seeds=list(held_out_seeds(spec.seeds, seeds)),
        racing=None,
        confirm=None,
        sampler={"name": "random", "seed": 0},
        pruner={"name": "none"},
        scheduler={"name": "none"},
    )
    data["budget"] = {**data["budget"], "trials": 1, "timeout": None}
    return parse_spec(data, source=f"confirmation of {spec.name}")


def confirm(
    name: str,
    *,
    storage: str | None = None,
    top: int | None = None,
    seeds: int | None = None,
    workers: int = 1,
    on_progress: Callable[[Progress], None] | None = None,
    backend: RDBStorage | None = None,
) -> ConfirmResult:
    """Retrain study ``name``'s candidates on held-out seeds; those confirmed already train nothing.

    Args:
        top, seeds: the K best configurations to confirm, and how many held-out seeds (default: the
            spec's ``confirm``, else 3 and 5). A study confirmed before keeps its held-out seeds.
        workers: local workers, as for :func:`launch`.

    Raises:
        SpecError, StorageError, StudyNotFoundError, ValueError: one line each, before anything is written.
    """
    import optuna

    if top is not None and not 1 <= top <= 100:
        # 0 would confirm nothing it was asked for, and print the earlier confirmation as if it had.
        raise ValueError(f"top must be in [1, 100], got {top}")
    if seeds is not None and not 2 <= seeds <= 100:
        raise ValueError(f"seeds must be in [2, 100] (an interval needs 2), got {seeds}")
    quiet_optuna()
    backend = backend or open_storage(storage)
    study = load(backend, name)
    spec = study_spec(study)
    if CONFIRMS_ATTR in study.user_attrs:
        raise SpecError(f"study {name!r} is itself a confirmation (of {study.user_attrs[CONFIRMS_ATTR]!r})")
    if len(spec.objective.directions) > 1:
        raise SpecError(f"study {name!r} has two objectives: confirmation ranks configurations on one")
    top = top if top is not None else spec.confirm.top if spec.confirm else DEFAULT_TOP
    held = load(backend, confirmation_name(name)) if confirmation_name(name) in optuna.get_all_study_names(backend) else None
    stored = None if held is None else study_spec(held)
    if seeds is None:
        seeds = len(stored.seeds) if stored else spec.confirm.seeds if spec.confirm else DEFAULT_SEEDS
    trials = trial_records(study, user_attrs=SUMMARY_ATTRS, system_attrs=(), curves=False)
    chosen = candidates(trials, direction=spec.objective.directions[0], top=top)
    if not chosen:
        raise SpecError(f"study {name!r} has no complete trial to confirm yet")
    target = confirmation_spec(spec, seeds=seeds)
    if stored is not None:
        if stored.seeds != target.seeds:
            raise SpecError(
                f"study {name!r} was confirmed on {len(stored.seeds)} held-out seeds, not {seeds}; "
                f"delete study {target.name!r} to confirm on other seeds"
            )
        if not stored.same_search(target):
            raise SpecError(f"study {target.name!r} confirms a different spec; delete it to confirm {name!r} again")
    # A candidate is confirmed once: its merged trial finished. (A FAIL is trained again, the seeds it lacks.)
    done = {
        point_key(trial_params(t))
        for t in (stored_trials(held) if held is not None else [])
        if t.state.name in ("COMPLETE", "PRUNED")
    }
    new = [c for c in chosen if point_key(c.params) not in done]
    target = target.model_copy(update={"budget": target.budget.model_copy(update={"trials": max(1, len(done) + len(new))})})
    confirmation_study, _ = create_or_resume(backend, target)
    confirmation_study.set_user_attr(CONFIRMS_ATTR, name)
    confirmation_study.set_user_attr(TOP_ATTR, top)
    result = None
    if new:
        runs, result = _train_seeds(backend, name, target, new, workers=workers, on_progress=on_progress)
        if _merge(confirmation_study, runs, new, target.seeds):
            optuna.delete_study(study_name=runs.study_name, storage=backend)
    return ConfirmResult(read_confirmation(study, trials, searched=searched_per_kind(trials)), len(new), result)


def _latest_runs(runs: optuna.Study) -> dict[tuple[Any, int], FrozenTrial]:
    """Each (configuration, held-out seed)'s latest trial in the seed study: a failed one may be queued again."""
    return {(point_key(trial_params(t)), t.user_attrs[TRIAL_SEEDS_ATTR][0]): t for t in stored_trials(runs)}


def _train_seeds(
    backend: RDBStorage,
    name: str,
    target: StudySpec,
    new: list[Candidate],
    *,
    workers: int,
    on_progress: Callable[[Progress], None] | None,
) -> tuple[optuna.Study, LaunchResult | None]:
    """Queue and run, in the seed study, every held-out seed of ``new`` that has no live trial there yet
    (an interrupted or failed run left the others); returns the seed study and the launch, if any."""
    from optuna.trial import TrialState

    spec = target.model_copy(update={"name": seed_runs_name(name), "description": f"{target.description}, one trial per seed"})
    runs, _ = create_or_resume(backend, spec)
    runs.set_user_attr(CONFIRMS_ATTR, name)
    live = {key for key, trial in _latest_runs(runs).items() if trial.state != TrialState.FAIL}
    for seed in target.seeds:  # seed by seed: the first seeds of every candidate come first
        for candidate in new:
            if (point_key(candidate.params), seed) not in live:
                runs.enqueue_trial(candidate.params, user_attrs={SOURCE_ATTR: candidate.source, TRIAL_SEEDS_ATTR: [seed]})
    pending = runs.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
    if not pending:
        return runs, None
    trials = len(runs.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))) + len(pending)
    spec = spec.model_copy(update={"budget": spec.budget.model_copy(update={"trials": trials})})
    return runs, launch_search(spec, storage=backend.url, workers=workers, on_progress=on_progress).result


def _merge(confirmation: optuna.Study, runs: optuna.Study, new: list[Candidate], seeds: Sequence[int]) -> bool:
    """Add to ``confirmation`` the trial of each candidate of ``new`` whose every seed finished in ``runs``:
    COMPLETE if every seed did, PRUNED if one diverged, FAIL if one failed (then its other seeds are
    kept for the next ``confirm``). Whether every candidate was merged as finished."""
    import optuna
    from optuna.trial import TrialState

    latest = _latest_runs(runs)
    finished = True
    for candidate in new:
        parts = [latest.get((point_key(candidate.params), seed)) for seed in seeds]
        if any(part is None or not part.state.is_finished() for part in parts):
            finished = False  # interrupted: the next confirm runs what is left
            continue
        ran = [part for part in parts if part is not None]
        states = {part.state for part in ran}
        reason = next((part.user_attrs.get(REASON_ATTR) for part in ran if part.user_attrs.get(REASON_ATTR)), None)
        if TrialState.FAIL in states:
            state, attrs, values = TrialState.FAIL, {REASON_ATTR: reason}, None
            finished = False
        else:
            state = TrialState.COMPLETE if states == {TrialState.COMPLETE} else TrialState.PRUNED
            attrs = finished_attrs(
                merged_attrs([part.user_attrs for part in ran]), reason=reason, worker=ran[0].user_attrs[WORKER_ATTR]
            )
            values = [attrs["value_mean"]] if state == TrialState.COMPLETE else None
        trial = optuna.trial.create_trial(
            state=state,
            values=values,
            params=ran[0].params,
            distributions=ran[0].distributions,
            intermediate_values=ran[0].intermediate_values,  # the first seed's curve, as one trial reports it
            user_attrs={**attrs, SOURCE_ATTR: candidate.source, **_seed_provenance(ran)},
        )
        starts = [part.datetime_start for part in ran if part.datetime_start is not None]
        trial.datetime_start = min(starts) if starts else trial.datetime_start
        trial.datetime_complete = max(part.datetime_complete for part in ran if part.datetime_complete is not None)
        confirmation.add_trial(trial)
    return finished


def _seed_provenance(parts: Sequence[FrozenTrial]) -> dict[str, Any]:
    """Which worker trained each seed, and when (ISO start and end): seeds of one candidate run at once."""
    return {
        "seed_workers": [part.user_attrs.get(WORKER_ATTR) for part in parts],
        "seed_times": [
            [
                part.datetime_start and part.datetime_start.isoformat(),
                part.datetime_complete and part.datetime_complete.isoformat(),
            ]
            for part in parts
        ],
    }
