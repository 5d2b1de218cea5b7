"""A study of momentum-search: its stored spec, loading and creating it, deleting it with the
studies that confirm it, and reading its trials as records and standings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from momentum_search._quiet import allow_experimental
from momentum_search.search import (
    STANDING_ATTRS,
    STANDING_PARAMS,
    Standing,
    TrialRecord,
)
from momentum_search.store import (
    TrialOutline,
    open_storage,
    stored_outlines,
    stored_trials,
)
from momentum_search.studies._spec import SpecError, StudySpec, parse_spec
from momentum_search.trainers.tasks import DATA_TASK

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage, RDBStorage


SPEC_ATTR = "spec"  # study user attr holding the validated spec as JSON
SUFFIX = ".confirm"


SEEDS_SUFFIX = ".seeds"  # after SUFFIX: the study of the held-out seeds' trainings, one trial each


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


def delete_study(name: str, *, storage: str | None = None) -> None:
    """Delete study ``name`` and all its trials, and its confirmation study if it has one.

    Raises:
        StudyNotFoundError: no such study.
    """
    import optuna

    backend = open_storage(storage)
    load(backend, name)
    optuna.delete_study(study_name=name, storage=backend)
    names = optuna.get_all_study_names(backend)
    for held in (confirmation_name(name), seed_runs_name(name)):
        if held in names:
            optuna.delete_study(study_name=held, storage=backend)


def trial_records(study: optuna.Study, **only: Any) -> list[TrialRecord]:
    """:func:`stored_trials` as records."""
    return [TrialRecord.of(trial) for trial in stored_trials(study, **only)]


def standings(study: optuna.Study) -> list[Standing]:
    """Every trial's :class:`Standing`, by number: what ranking reads, a few columns a trial."""
    return [standing_of(outline) for outline in stored_outlines(study, params=STANDING_PARAMS, user_attrs=STANDING_ATTRS)]


def standing_of(outline: TrialOutline) -> Standing:
    return Standing.of(outline.number, outline.state, outline.values, outline.params, outline.user_attrs)


def confirmation_name(study: str) -> str:
    return study + SUFFIX


def seed_runs_name(study: str) -> str:
    """The study where ``study``'s candidates train on their held-out seeds, one trial per seed."""
    return confirmation_name(study) + SEEDS_SUFFIX
