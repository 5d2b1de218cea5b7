"""The one place that touches Optuna's internals, each use beside its public fallback.

A private call is used only where it buys speed or a guarantee, and only where this Optuna still has
it as it was tested: the probe below checks every name, column and signature the fast paths use, and
the schema revision, once per process. A release that keeps them (5.1 changed none) gets the fast
paths; one that changes any falls back to the public API, which does the same things more slowly, and
says so once on stderr. PUBLIC_API_ENV forces the public path (the contract tests run both).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import optuna
from optuna.storages import BaseStorage, RDBStorage
from sqlalchemy.exc import SQLAlchemyError

from momentum_search.store._errors import StorageError

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from momentum_search.store._heartbeat import Heartbeat

_R = TypeVar("_R", bound=RDBStorage)

PUBLIC_API_ENV = "MOMENTUM_SEARCH_PUBLIC_API"  # set to 1: never use Optuna's internals (see privates)

# The alembic revision of the tables the tested Optuna versions (4.9 to 5.1) make: the only schema the
# fast read-only open reads (see open_for_reading), and the head the probe asks of Optuna's scripts.
TESTED_SCHEMA = "v3.2.0.a"

# What the fast paths read and write of Optuna's table models: each model's columns.
_COLUMNS = {
    "StudyModel": ("study_id", "study_name"),
    "StudyDirectionModel": ("study_id", "objective", "direction"),
    "StudyUserAttributeModel": ("study_id", "key", "value_json"),
    "TrialModel": ("trial_id", "number", "study_id", "state", "datetime_start", "datetime_complete"),
    "TrialValueModel": ("trial_id", "objective", "value", "value_type"),
    "TrialParamModel": ("trial_id", "param_name", "param_value", "distribution_json"),
    "TrialUserAttributeModel": ("trial_id", "key", "value_json"),
    "TrialSystemAttributeModel": ("trial_id", "key", "value_json"),
    "TrialIntermediateValueModel": ("trial_id", "step", "intermediate_value", "intermediate_value_type"),
}
# The private callables, by the parameters they are called with.
_SIGNATURES = {
    "RDBStorage._set_trial_attr_without_commit": ["self", "session", "model_cls", "trial_id", "key", "value"],
    "RDBStorage._set_trial_intermediate_value_without_commit": ["self", "session", "trial_id", "step", "intermediate_value"],
    "RDBStorage._fill_storage_url_template": ["template"],
    "_create_scoped_session": ["scoped_session", "ignore_integrity_error"],
    "_VersionManager": ["url", "engine", "scoped_session"],
    "TrialValueModel.stored_repr_to_value": ["value", "float_type"],
    "TrialIntermediateValueModel.stored_repr_to_intermediate_value": ["value", "float_type"],
}
# What RDBStorage.__init__ sets on itself, which the fast open sets instead (tests/studies/test_fast_open.py
# compares the two storages attribute by attribute).
_INIT_ATTRIBUTES = frozenset(
    {
        "engine_kwargs",
        "url",
        "skip_compatibility_check",
        "heartbeat_interval",
        "grace_period",
        "heartbeat_stale_trial_callback",
        "failed_trial_callback",
        "engine",
        "scoped_session",
        "_version_manager",
    }
)


@dataclass(frozen=True)
class Privates:
    """Optuna's internals, as found: its table models, its session context, its schema-version manager."""

    models: Any  # optuna.storages._rdb.models
    session: Callable[..., contextlib.AbstractContextManager[Any]]  # optuna.storages._rdb.storage._create_scoped_session
    version_manager: type  # optuna.storages._rdb.storage._VersionManager


def _missing_internals() -> tuple[Privates | None, list[str]]:
    """Optuna's internals if every piece the fast paths use is there as tested, and what is missing or changed."""
    import dis

    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session, _VersionManager
    except ImportError as error:
        return None, [f"import: {error}"]
    missing = []
    for name, columns in _COLUMNS.items():
        table = getattr(getattr(models, name, None), "__table__", None)
        absent = [c for c in columns if table is None or c not in table.c]
        if absent:
            missing.append(f"{name} columns {', '.join(absent)}" if table is not None else name)
    if not hasattr(getattr(models, "TrialValueModel", None), "TrialValueType"):
        missing.append("TrialValueModel.TrialValueType")
    found = {
        "RDBStorage": RDBStorage,
        "_create_scoped_session": _create_scoped_session,
        "_VersionManager": _VersionManager,
        "TrialValueModel": getattr(models, "TrialValueModel", None),
        "TrialIntermediateValueModel": getattr(models, "TrialIntermediateValueModel", None),
    }
    for path, expected in _SIGNATURES.items():
        owner, _, attribute = path.partition(".")
        target = getattr(found[owner], attribute, None) if attribute else found[owner]
        try:
            if target is None or list(inspect.signature(target).parameters) != expected:
                missing.append(f"{path}({', '.join(expected)})")
        except (TypeError, ValueError):
            missing.append(f"{path}({', '.join(expected)})")
    stored = {i.argval for i in dis.get_instructions(RDBStorage.__init__) if i.opname == "STORE_ATTR"}
    if stored != _INIT_ATTRIBUTES:
        missing.append(f"RDBStorage.__init__ attributes ({', '.join(sorted(stored ^ _INIT_ATTRIBUTES))} differ)")
    head = _schema_head(Path(models.__file__).parent / "alembic" / "versions")
    if head != TESTED_SCHEMA:
        missing.append(f"schema revision {head or 'unknown'} (tested: {TESTED_SCHEMA})")
    return (None if missing else Privates(models, _create_scoped_session, _VersionManager)), missing


def _schema_head(versions: Path) -> str | None:
    """``TESTED_SCHEMA`` if Optuna's alembic scripts in ``versions`` have it as their head (its script is
    there and none revises it), else the revision that revises it, or None if it is gone. A text search
    of ten small files, not alembic's 0.2 s import."""
    import re

    try:
        scripts = [p.read_text(encoding="utf-8") for p in versions.glob("*.py")]
    except OSError:
        return None
    quoted = rf"""["']{re.escape(TESTED_SCHEMA)}["']"""
    if not any(re.search(rf"^revision\s*=\s*{quoted}", s, re.M) for s in scripts):
        return None
    later = [
        re.search(r"""^revision\s*=\s*["']([^"']+)["']""", s, re.M)
        for s in scripts
        if re.search(rf"^down_revision\s*=\s*{quoted}", s, re.M)
    ]
    return next((m.group(1) if m else "unknown" for m in later), TESTED_SCHEMA)


@functools.cache
def _probe() -> Privates | None:
    privates, missing = _missing_internals()
    if missing:
        # Once per process, on stderr: the service still works, slower, and the user should know why.
        print(
            f"momentum-search: Optuna {optuna.__version__} changed internals the store's fast paths use "
            f"({'; '.join(missing)}); using Optuna's public API instead (slower, same results)",
            file=sys.stderr,
        )
    return privates


def privates() -> Privates | None:
    """Optuna's internals if this Optuna has them as tested and they are not switched off; else None."""
    if os.environ.get(PUBLIC_API_ENV, "") not in ("", "0"):
        return None
    return _probe()


def uses_private_api() -> bool:
    """Whether the store takes its fast paths through Optuna's internals in this process."""
    return privates() is not None


def open_for_reading(
    storage_class: type[_R], url: str, engine_kwargs: dict[str, Any], heartbeat: Heartbeat, retry: Any
) -> _R | None:
    """The storage at ``url`` as ``RDBStorage.__init__`` builds it (its engine, scoped session and
    version manager), without what a read does not need: creating the tables, writing the version
    info, importing alembic and parsing its migration scripts for the head revision (0.4 s of every
    read command). One query checks the schema instead: the store must be at ``TESTED_SCHEMA``.

    None (the caller then opens in full, and Optuna says what is wrong) off the private path, or when
    the store answers anything else: no such table, another revision, an error. A connection that
    cannot be made raises, as the full open's would.
    """
    found = privates()
    if found is None:
        return None
    import sqlalchemy as sa
    from sqlalchemy import orm

    url = RDBStorage._fill_storage_url_template(url)  # what RDBStorage.__init__ does to a URL first
    engine = sa.create_engine(url, **engine_kwargs)
    revisions: list[str]
    try:
        with engine.connect() as connection:
            try:
                revisions = list(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
            except SQLAlchemyError:
                revisions = []
    except Exception:
        engine.dispose()
        raise
    if revisions != [TESTED_SCHEMA]:
        engine.dispose()
        return None
    session = orm.scoped_session(orm.sessionmaker(bind=engine))
    # Optuna's version manager as its __init__ leaves it on a store at the head revision: nothing written.
    manager: Any = object.__new__(found.version_manager)
    vars(manager).update(url=url, engine=engine, scoped_session=session)
    # The attributes RDBStorage.__init__ sets (_INIT_ATTRIBUTES, checked by the probe; tests/studies/
    # test_fast_open.py compares them with a full open's); engine_kwargs already hold the pool_pre_ping
    # that Optuna adds for MySQL.
    storage = object.__new__(storage_class)
    vars(storage).update(
        engine_kwargs=engine_kwargs,
        url=url,
        skip_compatibility_check=False,
        heartbeat_interval=heartbeat.interval,
        grace_period=heartbeat.grace_period,
        heartbeat_stale_trial_callback=retry,
        failed_trial_callback=retry,
        engine=engine,
        scoped_session=session,
        _version_manager=manager,
    )
    return storage


def study_storage(study: optuna.Study) -> BaseStorage | None:
    """The storage ``study`` was loaded from, or None from an Optuna that hides it (Optuna keeps it private)."""
    return getattr(study, "_storage", None)


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage ``study`` was loaded from.

    Optuna keeps it private and offers no public way to it; an Optuna without it fails here with one
    line, which only the confirmation read (a second study in the same storage) needs.
    """
    storage = study_storage(study)
    if storage is None:
        raise StorageError(f"this Optuna ({optuna.__version__}) hides the storage of a study; pass the storage URL instead")
    return storage


def study_id(study: optuna.Study, storage: BaseStorage) -> int:
    """The id of ``study`` in ``storage``: Optuna's private attribute where tested, else looked up by name."""
    found = getattr(study, "_study_id", None) if privates() is not None else None
    return storage.get_study_id_from_name(study.study_name) if found is None else found


def trial_id(storage: BaseStorage, study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of ``trial``: Optuna's private attribute where tested (the cache read it; looking it
    up by number scans the study's rows, no index on number), else looked up by number."""
    found = getattr(trial, "_trial_id", None) if privates() is not None else None
    if found is None:
        return storage.get_trial_id_from_study_id_trial_number(study_id(study, storage), trial.number)
    return found


def claimed_trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """The trial object for the trial ``trial_id`` just claimed: what ``Study.ask`` does once it took a trial
    from the queue (the constructor is Optuna's public class, called as only Optuna calls it)."""
    return optuna.Trial(study, trial_id)


def write_user_attrs(storage: RDBStorage, trial_id: int, attrs: dict[str, Any]) -> bool:
    """``attrs`` set on the trial in one session without a savepoint each; False (nothing written) where
    the private path is off, for the caller to write them through Optuna's public calls."""
    found = privates()
    if found is None:
        return False
    with found.session(storage.scoped_session, True) as session:
        for key, value in attrs.items():
            storage._set_trial_attr_without_commit(session, found.models.TrialUserAttributeModel, trial_id, key, value)
    return True


def write_intermediate_values(storage: RDBStorage, trial_id: int, curve: dict[int, float]) -> bool:
    """Each step of ``curve`` set on the trial in one session; False (nothing written) where the private
    path is off."""
    found = privates()
    if found is None:
        return False
    with found.session(storage.scoped_session, True) as session:
        for step, value in curve.items():
            storage._set_trial_intermediate_value_without_commit(session, trial_id, step, value)
    return True


def sql_backend(storage: Any) -> tuple[RDBStorage, Any] | None:
    """The RDBStorage behind ``storage`` and Optuna's table models, or None where the public reads serve."""
    backend = getattr(storage, "_backend", storage)  # Optuna's _CachedStorage wraps an RDBStorage
    found = privates()
    return (backend, found.models) if isinstance(backend, RDBStorage) and found is not None else None
