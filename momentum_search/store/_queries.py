"""Reading only what a command needs.

Optuna's own read builds an ORM object for each of the ~60 rows a trial of ours has (attributes, a
value per epoch): 13 s for 10,000 trials on two loaded cores. These read Optuna's tables with plain
queries, only the rows asked for, and aggregate in SQL where a command needs only counts and the best
value. They read Optuna's table models (private: :func:`_internals.sql_backend` hands them out) where
the probe found them; each falls back to Optuna's public reads when those are missing
or switched off, or the storage is not SQL (the gRPC proxy, an in-memory storage in tests).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import optuna

from momentum_search.store import _internals

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def stored_trials(study: optuna.Study, **only: Any) -> list[FrozenTrial]:
    """The trials of ``study`` by number, as ``study.get_trials(deepcopy=False)`` returns them, or only
    what ``only`` asks for (see :func:`query_trials`)."""
    storage = _internals.study_storage(study)
    if storage is None:  # an Optuna that hides a study's storage: its public read, filtered here
        return _filtered(study.get_trials(deepcopy=False), **only)
    return query_trials(storage, _internals.study_id(study, storage), **only)


def stored_outlines(study: optuna.Study, **only: Any) -> list[TrialOutline]:
    """Every trial of ``study`` by number in outline, with only the parameters and attrs ``only``
    names (see :func:`query_outlines`)."""
    storage = _internals.study_storage(study)
    objectives = len(study.directions)
    if storage is None:  # an Optuna that hides a study's storage: its public read, outlined here
        return [_outline(trial, objectives=objectives, **only) for trial in study.get_trials(deepcopy=False)]
    return query_outlines(storage, _internals.study_id(study, storage), objectives=objectives, **only)


def _local_time(moment: dt.datetime | None) -> dt.datetime | None:
    # Optuna stores naive UTC and hands out naive local time.
    return None if moment is None else moment.replace(tzinfo=dt.UTC).astimezone().replace(tzinfo=None)


@dataclass(frozen=True)
class StudyAggregate:
    """One study at a glance, from SQL aggregates: no trial is read."""

    study_id: int
    name: str
    directions: tuple[str, ...]  # "maximize" or "minimize" per objective
    user_attrs: dict[str, Any]
    states: dict[str, int]  # trial counts by state name; a state without trials is absent
    best_value: float | None  # the best finite first objective of a COMPLETE trial in its direction
    attr_counts: dict[str, int]  # of each key asked for (``count_attrs``), how many trials have that user attr


def study_aggregates(storage: Any, *, count_attrs: Collection[str] = ()) -> list[StudyAggregate]:
    """Every study in ``storage`` with its trial counts by state, its best value and how many trials
    have each user attr in ``count_attrs``: five queries and one per key, whatever the studies' size;
    without SQL, through Optuna's public reads (every trial read)."""
    sql = _internals.sql_backend(storage)
    if sql is None:
        return _public_aggregates(storage, count_attrs)
    import json

    import sqlalchemy as sa

    backend, models = sql
    studies, directions = models.StudyModel.__table__, models.StudyDirectionModel.__table__
    attrs, trials, values = (
        models.StudyUserAttributeModel.__table__,
        models.TrialModel.__table__,
        models.TrialValueModel.__table__,
    )
    with backend.engine.connect() as connection:
        names: dict[int, str] = dict(
            _all(connection, sa.select(studies.c.study_id, studies.c.study_name).order_by(studies.c.study_id))
        )
        objectives: dict[int, dict[int, str]] = {study_id: {} for study_id in names}
        for study_id, objective, direction in _all(
            connection, sa.select(directions.c.study_id, directions.c.objective, directions.c.direction)
        ):
            objectives[study_id][objective] = direction.name.lower()
        user_attrs: dict[int, dict[str, Any]] = {study_id: {} for study_id in names}
        for study_id, key, text in _all(connection, sa.select(attrs.c.study_id, attrs.c.key, attrs.c.value_json)):
            user_attrs[study_id][key] = json.loads(text)
        states: dict[int, dict[str, int]] = {study_id: {} for study_id in names}
        for study_id, state, count in _all(
            connection, sa.select(trials.c.study_id, trials.c.state, sa.func.count()).group_by(trials.c.study_id, trials.c.state)
        ):
            states[study_id][state.name] = count
        attr_counts: dict[int, dict[str, int]] = {study_id: dict.fromkeys(count_attrs, 0) for study_id in names}
        trial_attrs = models.TrialUserAttributeModel.__table__
        for key in count_attrs:
            # Trial by trial through the (trial_id, key) index: the attrs table has no index on key
            # alone, and scanning it took 2.5× as long at 100,000 trials on SQLite.
            has_key = sa.exists().where(trial_attrs.c.trial_id == trials.c.trial_id, trial_attrs.c.key == key)
            for study_id, count in _all(
                connection, sa.select(trials.c.study_id, sa.func.count()).where(has_key).group_by(trials.c.study_id)
            ):
                attr_counts[study_id][key] = count
        extremes = {
            study_id: (low, high)
            for study_id, low, high in _all(
                connection,
                sa.select(trials.c.study_id, sa.func.min(values.c.value), sa.func.max(values.c.value))
                .join(trials, trials.c.trial_id == values.c.trial_id)
                .where(
                    values.c.objective == 0,
                    values.c.value_type == models.TrialValueModel.TrialValueType.FINITE,
                    trials.c.state == optuna.trial.TrialState.COMPLETE,
                )
                .group_by(trials.c.study_id),
            )
        }
    aggregates = []
    for study_id, name in names.items():
        found = tuple(objectives[study_id][i] for i in sorted(objectives[study_id]))
        low, high = extremes.get(study_id, (None, None))
        best = (low if found and found[0] == "minimize" else high) if study_id in extremes else None
        aggregates.append(
            StudyAggregate(study_id, name, found, user_attrs[study_id], states[study_id], best, attr_counts[study_id])
        )
    return aggregates


def _all(connection: Any, query: Any) -> list[Any]:
    """The rows of ``query`` (typed loosely: the columns come from Optuna's untyped table models).

    Fetched at once: iterating the result fetches row by row, 1.5× as long for 200,000 attr rows.
    """
    return connection.execute(query).all()


def _public_aggregates(storage: Any, count_attrs: Collection[str] = ()) -> list[StudyAggregate]:
    import math
    from collections import Counter

    aggregates = []
    for study in storage.get_all_studies():
        directions = tuple(d.name.lower() for d in study.directions)
        study_id = storage.get_study_id_from_name(study.study_name)
        trials = storage.get_all_trials(study_id, deepcopy=False)
        finite = [t.values[0] for t in trials if t.state.name == "COMPLETE" and t.values and math.isfinite(t.values[0])]
        best = (min if directions[0] == "minimize" else max)(finite) if finite else None
        states = dict(Counter(t.state.name for t in trials))
        attr_counts = {key: sum(key in t.user_attrs for t in trials) for key in count_attrs}
        aggregates.append(
            StudyAggregate(study_id, study.study_name, directions, dict(study.user_attrs), states, best, attr_counts)
        )
    return aggregates


def query_trials(
    storage: Any,
    study_id: int,
    *,
    numbers: Collection[int] | None = None,
    states: Collection[str] | None = None,
    best_value: float | None = None,
    user_attrs: Collection[str] | None = None,
    system_attrs: Collection[str] | None = None,
    curves: bool = True,
) -> list[FrozenTrial]:
    """The trials of study ``study_id`` by number, with only what is asked for read from the store.

    Args:
        numbers, states: only these trials (numbers), only trials in these states (names).
        best_value: only the COMPLETE trials whose first objective equals it.
        user_attrs, system_attrs: only these keys (None: all).
        curves: read the intermediate values (the first seed's curve); else they are empty.
    """
    sql = _internals.sql_backend(storage)
    if sql is None:
        return _filtered(
            storage.get_all_trials(study_id, deepcopy=False),
            numbers=numbers,
            states=states,
            best_value=best_value,
            user_attrs=user_attrs,
            system_attrs=system_attrs,
            curves=curves,
        )
    import json
    from collections import defaultdict

    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution
    from optuna.trial import FrozenTrial, TrialState

    backend, models = sql
    table, value_table = models.TrialModel.__table__, models.TrialValueModel.__table__
    chosen = sa.select(table.c.trial_id).where(table.c.study_id == study_id)
    if numbers is not None:
        chosen = chosen.where(table.c.number.in_(list(numbers)))
    if states is not None:
        chosen = chosen.where(table.c.state.in_([TrialState[s] for s in states]))
    if best_value is not None:
        chosen = chosen.join(value_table, value_table.c.trial_id == table.c.trial_id).where(
            table.c.state == TrialState.COMPLETE, value_table.c.objective == 0, value_table.c.value == best_value
        )
    values: defaultdict[int, dict[int, float]] = defaultdict(dict)
    params: defaultdict[int, dict[str, tuple[float, Any]]] = defaultdict(dict)
    users: defaultdict[int, dict[str, Any]] = defaultdict(dict)
    systems: defaultdict[int, dict[str, Any]] = defaultdict(dict)
    intermediate: defaultdict[int, dict[int, float]] = defaultdict(dict)
    distributions: dict[str, Any] = {}  # a study has a few distinct ones: parse each once
    with backend.engine.connect() as connection:

        def rows(model: Any, *columns: str, keys: Collection[str] | None = None) -> list[Any]:
            t = model.__table__
            query = sa.select(*(t.c[c] for c in ("trial_id", *columns))).where(t.c.trial_id.in_(chosen))
            if keys is not None:
                query = query.where(t.c.key.in_(list(keys)))
            return _all(connection, query.order_by(*t.primary_key.columns))

        def parsed(found: list[Any]) -> list[Any]:
            # One JSON document for all values: a parse per value costs more than the query.
            return json.loads("[" + ",".join(text for *_, text in found) + "]") if found else []

        trials = sorted(rows(models.TrialModel, "number", "state", "datetime_start", "datetime_complete"), key=lambda r: r.number)
        for trial_id, objective, value, kind in rows(models.TrialValueModel, "objective", "value", "value_type"):
            values[trial_id][objective] = models.TrialValueModel.stored_repr_to_value(value, kind)
        for trial_id, name, value, text in rows(models.TrialParamModel, "param_name", "param_value", "distribution_json"):
            if text not in distributions:
                distributions[text] = json_to_distribution(text)
            params[trial_id][name] = (value, distributions[text])
        for found, model, keys in (
            (users, models.TrialUserAttributeModel, user_attrs),
            (systems, models.TrialSystemAttributeModel, system_attrs),
        ):
            if keys is None or keys:
                attr_rows = rows(model, "key", "value_json", keys=keys)
                for (trial_id, key, _), value in zip(attr_rows, parsed(attr_rows), strict=True):
                    found[trial_id][key] = value
        if curves:
            for trial_id, step, value, kind in rows(
                models.TrialIntermediateValueModel, "step", "intermediate_value", "intermediate_value_type"
            ):
                intermediate[trial_id][step] = models.TrialIntermediateValueModel.stored_repr_to_intermediate_value(value, kind)
    return [
        FrozenTrial(
            number=trial.number,
            state=trial.state,
            value=None,
            values=[value for _, value in sorted(values[trial.trial_id].items())] or None,
            datetime_start=_local_time(trial.datetime_start),
            datetime_complete=_local_time(trial.datetime_complete),
            params={name: d.to_external_repr(v) for name, (v, d) in params[trial.trial_id].items()},
            distributions={name: d for name, (_, d) in params[trial.trial_id].items()},
            user_attrs=users[trial.trial_id],
            system_attrs=systems[trial.trial_id],
            intermediate_values=intermediate[trial.trial_id],
            trial_id=trial.trial_id,
        )
        for trial in trials
    ]


def _filtered(
    trials: list[FrozenTrial],
    *,
    numbers: Collection[int] | None = None,
    states: Collection[str] | None = None,
    best_value: float | None = None,
    user_attrs: Collection[str] | None = None,
    system_attrs: Collection[str] | None = None,
    curves: bool = True,
) -> list[FrozenTrial]:
    """:func:`query_trials`'s choice made on trials Optuna's public API read."""
    import copy

    chosen = []
    for trial in trials:
        if numbers is not None and trial.number not in numbers:
            continue
        if states is not None and trial.state.name not in states:
            continue
        if best_value is not None and not (trial.state.name == "COMPLETE" and trial.values and trial.values[0] == best_value):
            continue
        trial = copy.copy(trial)  # the storage's cached trial stays as it is
        if user_attrs is not None:
            trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k in user_attrs}
        if system_attrs is not None:
            trial.system_attrs = {k: v for k, v in trial.system_attrs.items() if k in system_attrs}
        if not curves:
            trial.intermediate_values = {}
        chosen.append(trial)
    return sorted(chosen, key=lambda t: t.number)


class TrialOutline(NamedTuple):
    """A trial in one row (:func:`query_outlines`): no curve, only the parameters and attrs asked for."""

    number: int
    state: str  # its name: COMPLETE, PRUNED, FAIL, RUNNING or WAITING
    values: tuple[float, ...] | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    system_attrs: dict[str, Any]


def query_outlines(
    storage: Any,
    study_id: int,
    *,
    objectives: int,
    params: Collection[str] = (),
    user_attrs: Collection[str] = (),
    system_attrs: Collection[str] = (),
) -> list[TrialOutline]:
    """Every trial of study ``study_id`` by number with its ``objectives`` values and only the
    ``params``, ``user_attrs`` and ``system_attrs`` named: what ranking reads of a large study.

    One query, a row per trial (a join per key on Optuna's (trial_id, key) unique indexes), fetched
    at once and without an ORM object or FrozenTrial: for 10,000 trials and a few keys, a tenth of
    what :func:`query_trials` takes to read them.
    """
    sql = _internals.sql_backend(storage)
    if sql is None:
        return [
            _outline(trial, objectives=objectives, params=params, user_attrs=user_attrs, system_attrs=system_attrs)
            for trial in storage.get_all_trials(study_id, deepcopy=False)
        ]
    import json

    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution

    backend, models = sql
    params, user_attrs, system_attrs = tuple(params), tuple(user_attrs), tuple(system_attrs)  # one order throughout
    trials = models.TrialModel.__table__
    # The enums as stored (their names): SQLAlchemy's conversion of each to Optuna's enum takes as
    # long as the query.
    selected: list[Any] = [trials.c.number, sa.type_coerce(trials.c.state, sa.String)]
    joined = trials

    def join(model: Any, column: str, key: Any) -> Any:
        nonlocal joined
        table = model.__table__.alias()
        joined = joined.outerjoin(table, (table.c.trial_id == trials.c.trial_id) & (table.c[column] == key))
        return table.c

    for objective in range(objectives):
        stored = join(models.TrialValueModel, "objective", objective)
        selected += [stored.value, sa.type_coerce(stored.value_type, sa.String)]
    selected += [join(models.TrialParamModel, "param_name", name).param_value for name in params]
    for model, keys in ((models.TrialUserAttributeModel, user_attrs), (models.TrialSystemAttributeModel, system_attrs)):
        selected += [join(model, "key", key).value_json for key in keys]
    query = sa.select(*selected).select_from(joined).where(trials.c.study_id == study_id).order_by(trials.c.number)
    with backend.engine.connect() as connection:
        rows = _all(connection, query)
        # Optuna refuses a parameter a distribution incompatible with the study's first (another class,
        # other choices), so any one of them turns every stored value of it into the value searched.
        param_table = models.TrialParamModel.__table__
        distributions: dict[str, Any] = {}
        for name in params:
            text = connection.execute(
                sa.select(param_table.c.distribution_json)
                .join(trials, trials.c.trial_id == param_table.c.trial_id)
                .where(trials.c.study_id == study_id, param_table.c.param_name == name)
                .limit(1)
            ).scalar()
            if text is not None:  # else no trial has the parameter
                distributions[name] = json_to_distribution(text)
    if not rows:
        return []
    # Decoded a column at a time (a row at a time takes three times as long): number and state, a
    # (value, kind) per objective, a value per parameter, a JSON text per attr.
    columns = list(zip(*rows, strict=True))
    kinds = {kind.name: kind for kind in models.TrialValueModel.TrialValueType}  # Enum[name] is slow
    values: list[tuple[float, ...]] = [()] * len(rows)
    for at in range(2, 2 + 2 * objectives, 2):
        values = [
            found if kind is None else (*found, models.TrialValueModel.stored_repr_to_value(stored, kinds[kind]))
            for found, stored, kind in zip(values, columns[at], columns[at + 1], strict=True)
        ]
    found_params: list[dict[str, Any]] = [{} for _ in rows]
    for name, at in zip(params, range(2 + 2 * objectives, len(columns))):
        for found, stored in zip(found_params, columns[at], strict=True):
            if stored is not None:
                found[name] = distributions[name].to_external_repr(stored)
    attrs: list[list[dict[str, Any]]] = [[{} for _ in rows], [{} for _ in rows]]  # user, system
    at = 2 + 2 * objectives + len(params)
    for found_attrs, key in [*((attrs[0], key) for key in user_attrs), *((attrs[1], key) for key in system_attrs)]:
        present = [(row, text) for row, text in enumerate(columns[at]) if text is not None]
        # One JSON document for the column: a parse per value costs more than the query.
        for (row, _), parsed in zip(present, json.loads("[" + ",".join(text for _, text in present) + "]"), strict=True):
            found_attrs[row][key] = parsed
        at += 1
    return list(map(TrialOutline, columns[0], columns[1], [found or None for found in values], found_params, *attrs))


def _outline(
    trial: FrozenTrial,
    *,
    objectives: int,
    params: Collection[str] = (),
    user_attrs: Collection[str] = (),
    system_attrs: Collection[str] = (),
) -> TrialOutline:
    """:func:`query_outlines`'s row of a trial Optuna's public API read."""
    return TrialOutline(
        trial.number,
        trial.state.name,
        None if trial.values is None else tuple(trial.values[:objectives]),
        {name: trial.params[name] for name in params if name in trial.params},
        {key: trial.user_attrs[key] for key in user_attrs if key in trial.user_attrs},
        {key: trial.system_attrs[key] for key in system_attrs if key in trial.system_attrs},
    )
