"""The read-only open: on a store at the tested schema it skips Optuna's schema work and reads what the
full open reads; anything else takes the full open, which says what Optuna says. SQLite, PostgreSQL
and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
from optuna.storages import RDBStorage

from momentum_search.studies import Storage, StorageError, open_storage, query_trials, study_aggregates
from momentum_search.store import PUBLIC_API_ENV, TESTED_SCHEMA, uses_private_api

SCHEMA_QUERY = "SELECT version_num FROM alembic_version"


@pytest.fixture(autouse=True)
def private_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PUBLIC_API_ENV, raising=False)
    assert uses_private_api(), f"Optuna {optuna.__version__}: the probe turned the private paths off"


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs in the block."""
    seen: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", record)


def _stored(url: str, name: str) -> None:
    """A study with what ours hold: a study attr, params, values, user and system attrs, curves, states."""
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study.set_user_attr("note", {"name": name})  # not "spec": list reads that, in a database other tests share

    def objective(trial: optuna.Trial) -> float:
        mu = trial.suggest_float("mu", 0.0, 0.9)
        trial.suggest_categorical("cell", ["lstm", "momentum-lstm"])
        trial.set_user_attr("seed_values", [mu, mu / 2])
        for step in range(3):
            trial.report(mu * step, step)
        if trial.number == 3:
            raise optuna.TrialPruned
        return mu

    study.optimize(objective, n_trials=6)
    study.enqueue_trial({"mu": 0.5, "cell": "lstm"})
    storage.engine.dispose()


def _reads(storage: Storage, name: str) -> tuple[Any, ...]:
    """What the read commands read through a storage: Optuna's public reads, ours, a loaded study."""
    study_id = storage.get_study_id_from_name(name)
    studies = [(s.study_name, s.directions, s.user_attrs) for s in storage.get_all_studies()]
    return (
        studies,
        storage.get_all_trials(study_id),
        storage.get_best_trial(study_id),
        storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, 1)),
        study_aggregates(storage),
        query_trials(storage, study_id, states=("COMPLETE",), user_attrs=("seed_values",), curves=False),
        optuna.load_study(study_name=name, storage=storage).trials,
        storage.get_current_version(),
    )


def test_the_fast_open_reads_what_the_full_open_reads(storage_url: str, study_name: str) -> None:
    _stored(storage_url, study_name)
    with statements() as seen:
        fast = open_storage(storage_url, read_only=True)
    assert seen == [SCHEMA_QUERY]  # no table creation, no version info, no alembic
    full = open_storage(storage_url)
    try:
        assert _reads(fast, study_name) == _reads(full, study_name)
        # The same storage as RDBStorage.__init__ builds it: each attribute, and the version manager's.
        assert vars(fast).keys() == vars(full).keys()
        assert {k: type(v) for k, v in vars(fast).items()} == {k: type(v) for k, v in vars(full).items()}
        for same in ("url", "engine_kwargs", "heartbeat_interval", "grace_period", "skip_compatibility_check"):
            assert getattr(fast, same) == getattr(full, same)
        assert fast.engine.url == full.engine.url
        assert vars(fast._version_manager).keys() == vars(full._version_manager).keys()  # type: ignore[attr-defined]
    finally:
        fast.engine.dispose()
        full.engine.dispose()


def test_the_tested_schema_is_optunas_head(tmp_path: Path) -> None:
    assert RDBStorage(f"sqlite:///{tmp_path / 'head.db'}").get_head_version() == TESTED_SCHEMA


def test_a_store_at_another_revision_is_refused_with_optunas_message(scratch_url: str, study_name: str) -> None:
    _stored(scratch_url, study_name)
    engine = sqlalchemy.create_engine(scratch_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'v3.0.0.d'"))
    engine.dispose()
    with pytest.raises(StorageError) as refused:
        open_storage(scratch_url, read_only=True)
    message = str(refused.value)
    assert "no longer compatible with the table schema" in message and "optuna storage upgrade" in message
    assert "\n" not in message


def test_a_store_without_tables_takes_the_full_open(tmp_path: Path) -> None:
    # A new SQLite file says what it says today: the full open makes its tables, it holds no study.
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert open_storage(url, read_only=True).get_all_studies() == []
    with statements() as seen:
        open_storage(url, read_only=True)
    assert seen == [SCHEMA_QUERY]  # now it has them
    with pytest.raises(StorageError, match="folder .*nowhere does not exist"):
        open_storage(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}", read_only=True)


def test_the_public_api_and_the_write_paths_take_the_full_open(
    tmp_path: Path, study_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'full.db'}"
    _stored(url, study_name)
    with statements() as writing:
        open_storage(url)
    monkeypatch.setenv(PUBLIC_API_ENV, "1")
    with statements() as public:
        storage = open_storage(url, read_only=True)
    assert len(writing) > 1 and len(public) > 1  # the tables checked, the version info read
    assert SCHEMA_QUERY not in public
    assert [s.study_name for s in storage.get_all_studies()] == [study_name]
