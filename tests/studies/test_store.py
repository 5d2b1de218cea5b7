"""The trial store's contract, on both of its paths (Optuna's internals, and the public API they fall
back to) and on SQLite, PostgreSQL and MariaDB; and the proof that nothing else touches the internals."""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import psycopg2
import pytest
import sqlalchemy
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.trial import TrialState
from study_specs import tiny_spec

import momentum_search
from momentum_search.studies import Storage, StorageError, launch, open_storage, parse_spec
from momentum_search.store import _internals
from momentum_search.store import PUBLIC_API_ENV, stored_trials, uses_private_api

ATTRS = {"config": {"cell": "lstm"}, "seed_values": [0.5, 0.7], "value_mean": 0.6, "reason": None}
CURVE = {1: 0.9, 2: 0.6}


def _new_study(storage: Storage, name: str, *, queued: int = 0) -> optuna.Study:
    study = optuna.create_study(storage=storage, study_name=name, direction="minimize")
    for _ in range(queued):
        study.enqueue_trial({})
    return study


def _claimed(storage: Storage, study: optuna.Study) -> optuna.Trial:
    trial = storage.claim_trial(study)
    assert trial is not None
    return trial


def _whole(frozen: optuna.trial.FrozenTrial) -> tuple[Any, ...]:
    return frozen.state, frozen.values, frozen.user_attrs, frozen.intermediate_values


def _nothing(frozen: optuna.trial.FrozenTrial) -> tuple[Any, ...]:
    return TrialState.RUNNING, None, {}, {}


class TestTrialStore:
    def test_claims_go_to_one_claimer_each_and_create_nothing(self, api: str, storage_url: str, study_name: str) -> None:
        _new_study(open_storage(storage_url), study_name, queued=30)
        claims: list[int] = []

        def claim_all() -> None:
            storage = open_storage(storage_url)  # a connection pool of its own, as another worker has
            study = optuna.load_study(study_name=study_name, storage=storage)
            while (trial := storage.claim_trial(study)) is not None:
                claims.append(trial.number)

        racers = [threading.Thread(target=claim_all) for _ in range(3)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert sorted(claims) == list(range(30))
        trials = optuna.load_study(study_name=study_name, storage=open_storage(storage_url)).get_trials()
        assert [t.state for t in trials] == [TrialState.RUNNING] * 30  # on both paths: no trial created

    def test_a_finished_trial_is_recorded_whole(self, api: str, storage_url: str, study_name: str) -> None:
        storage = open_storage(storage_url)
        study = _new_study(storage, study_name, queued=3)
        complete, pruned, diverged = (_claimed(storage, study) for _ in range(3))
        assert storage.finish_trial(study, complete, TrialState.COMPLETE, attrs=ATTRS, values=[0.6], curve=CURVE)
        assert storage.finish_trial(study, pruned, TrialState.PRUNED, attrs=ATTRS, curve=CURVE)
        assert storage.finish_trial(study, diverged, TrialState.PRUNED, attrs=ATTRS, curve={1: 0.9, 2: math.nan})
        trials = study.get_trials()
        assert _whole(trials[0]) == (TrialState.COMPLETE, [0.6], ATTRS, CURVE)
        # As Study.tell ends a pruned trial: its value is the last intermediate value, unless that is NaN.
        assert _whole(trials[1]) == (TrialState.PRUNED, [0.6], ATTRS, CURVE)
        assert trials[2].state == TrialState.PRUNED and trials[2].values is None and math.isnan(trials[2].intermediate_values[2])
        assert stored_trials(study)[:2] == trials[:2]  # the bulk read, fast or public, reads the same

    def test_a_trial_failed_meanwhile_takes_nothing(self, api: str, storage_url: str, study_name: str) -> None:
        storage = open_storage(storage_url)
        study = _new_study(storage, study_name, queued=1)
        late = _claimed(storage, study)
        storage.set_trial_state_values(storage.trial_id(study, late), TrialState.FAIL)  # another worker reaped it
        assert not storage.finish_trial(study, late, TrialState.COMPLETE, attrs=ATTRS, values=[0.6], curve=CURVE)
        assert _whole(study.get_trials()[0]) == (TrialState.FAIL, None, {}, {})

    def test_a_requeued_trial_is_failed_and_copied_together(self, api: str, storage_url: str, study_name: str) -> None:
        storage = open_storage(storage_url)
        study = _new_study(storage, study_name)
        study.enqueue_trial({"x": 1.0})
        trial = _claimed(storage, study)
        trial.suggest_float("x", 0.0, 2.0)
        assert storage.finish_trial(study, trial, TrialState.FAIL, attrs={"reason": "interrupted"}, requeue=True)
        failed, copy = study.get_trials()
        assert (failed.state, failed.user_attrs) == (TrialState.FAIL, {"reason": "interrupted"})
        assert copy.state == TrialState.WAITING and copy.params == {"x": 1.0}
        assert copy.system_attrs["retry_history"] == [failed.number]

    def test_a_failure_between_the_steps_leaves_nothing(self, api: str, storage_url: str, study_name: str) -> None:
        # The database refuses the state change, after the attrs, the curve and the values were written
        # in the same transaction: none of them may stay.
        storage = open_storage(storage_url)
        study = _new_study(storage, study_name, queued=1)
        trial = _claimed(storage, study)
        with _failing(storage.engine, "UPDATE trials SET"), pytest.raises(StorageError, match="injected"):
            storage.finish_trial(study, trial, TrialState.COMPLETE, attrs=ATTRS, values=[0.6], curve=CURVE)
        assert _whole(study.get_trials()[0]) == _nothing(study.get_trials()[0])
        assert storage.finish_trial(study, trial, TrialState.COMPLETE, attrs=ATTRS, values=[0.6], curve=CURVE)
        assert _whole(study.get_trials()[0]) == (TrialState.COMPLETE, [0.6], ATTRS, CURVE)

    def test_a_public_launch_finishes_exactly_its_budget(
        self, storage_url: str, study_name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # One transaction of public calls per finish, in two spawned workers.
        monkeypatch.setenv(PUBLIC_API_ENV, "1")
        spec = parse_spec(tiny_spec(study_name, budget={"trials": 6, "epochs": 2}))
        assert launch(spec, storage=storage_url, workers=2, poll_interval=0.2).errors == []
        trials = optuna.load_study(study_name=study_name, storage=open_storage(storage_url)).get_trials()
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
        assert all(set(t.intermediate_values) == {1, 2} for t in trials if t.state == TrialState.COMPLETE)


def test_a_lost_connection_mid_finish_is_tried_again_whole(
    api: str, server_databases: dict[str, str | None], study_name: str
) -> None:
    # pg_terminate_backend between the attrs and the state: the transaction is lost with the connection,
    # the store tries the whole finish again, and the trial is recorded once.
    url = server_databases["postgresql"]
    if url is None:
        pytest.skip("postgresql server not reachable on 127.0.0.1")
    storage = open_storage(url)
    study = _new_study(storage, study_name, queued=1)
    trial = _claimed(storage, study)
    cut: list[int] = []

    def cut_once(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE trials SET") and not cut:
            cursor.execute("SELECT pg_backend_pid()")
            cut.append(cursor.fetchone()[0])
            with contextlib.closing(psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")) as admin:
                admin.autocommit = True
                admin.cursor().execute("SELECT pg_terminate_backend(%s)", (cut[0],))

    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", cut_once)
    try:
        assert storage.finish_trial(study, trial, TrialState.COMPLETE, attrs=ATTRS, values=[0.6], curve=CURVE)
    finally:
        sqlalchemy.event.remove(storage.engine, "before_cursor_execute", cut_once)
    assert cut
    assert _whole(study.get_trials()[0]) == (TrialState.COMPLETE, [0.6], ATTRS, CURVE)


@contextlib.contextmanager
def _failing(engine: sqlalchemy.engine.Engine, prefix: str) -> Iterator[None]:
    """Statements starting with ``prefix`` fail in the database driver (an error not worth a retry)."""
    error = engine.dialect.loaded_dbapi.InternalError

    # do_execute stands in for the driver's execute, so SQLAlchemy handles the error as the driver's.
    def fail(cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(prefix):
            raise error("injected: the database refused the statement")

    sqlalchemy.event.listen(engine, "do_execute", fail)
    try:
        yield
    finally:
        sqlalchemy.event.remove(engine, "do_execute", fail)


# What a rename in Optuna or Ray would break: private modules, attributes and constructors. Our own
# module paths are not: studies._storage, and "._storage" in the package's lazy exports.
PRIVATE = re.compile(
    r"optuna\.storages\._|(?<!studies)(?<!\")\._storage\b|\._backend\b|\._trial_id\b|\._study_id\b|\._ot_|optuna\.(trial\.)?Trial\(|without_commit|_create_scoped_session|_VersionManager|_fill_storage_url_template"
)
STORE = Path(momentum_search.__file__).parent / "store" / "_internals.py"


def test_only_the_store_touches_optuna_internals() -> None:
    package = Path(momentum_search.__file__).parent
    benchmarks = package.parent / "benchmarks"  # they write trials in bulk, through the store's models
    found = [
        f"{path.relative_to(package.parent)}:{number}: {line.strip()}"
        for path in [*sorted(package.rglob("*.py")), *sorted(benchmarks.glob("*.py"))]
        if path != STORE
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert found == []
    assert PRIVATE.search(STORE.read_text())  # the pattern still finds what the store does use


# ---- the probe: the private paths are gated on what they use, not on Optuna's version ----------------


def _probed(capsys: pytest.CaptureFixture[str]) -> tuple[bool, list[str]]:
    """Probe afresh (twice, to see the warning once) and return whether the fast paths are on, and stderr's lines."""
    _internals._probe.cache_clear()
    try:
        on = [uses_private_api() for _ in range(2)]
        assert on[0] == on[1]
        return on[0], capsys.readouterr().err.splitlines()
    finally:
        _internals._probe.cache_clear()  # the next test probes the real Optuna again


def _without_column(model: Any, column: str) -> type:
    """A stand-in for Optuna's table model ``model`` whose table lacks ``column``."""
    table = sqlalchemy.Table(
        model.__tablename__,
        sqlalchemy.MetaData(),
        *(sqlalchemy.Column(c.name, c.type) for c in model.__table__.c if c.name != column),
    )
    return type(model.__name__, (), {"__table__": table, **{k: v for k, v in vars(model).items() if k[0].isupper()}})


def test_this_optuna_passes_the_probe_silently(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PUBLIC_API_ENV, raising=False)
    assert _probed(capsys) == (True, [])


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda m: m.delattr(RDBStorage, "_set_trial_attr_without_commit"), "RDBStorage._set_trial_attr_without_commit"),
        (
            lambda m: m.setattr(RDBStorage, "_fill_storage_url_template", staticmethod(lambda url, extra: url)),
            "RDBStorage._fill_storage_url_template(template)",
        ),
        (
            lambda m: m.setattr(models, "TrialValueModel", _without_column(models.TrialValueModel, "value_type")),
            "TrialValueModel columns value_type",
        ),
        (lambda m: m.delattr(models, "TrialIntermediateValueModel"), "TrialIntermediateValueModel"),
        (lambda m: m.setattr(_internals, "TESTED_SCHEMA", "v3.0.0.d"), "schema revision v3.2.0.a (tested: v3.0.0.d)"),
    ],
    ids=["method gone", "signature changed", "column gone", "model gone", "newer schema"],
)
def test_a_changed_internal_turns_the_fast_paths_off_and_says_so_once(
    change: Any, named: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PUBLIC_API_ENV, raising=False)
    change(monkeypatch)
    on, err = _probed(capsys)
    assert not on
    assert (
        len(err) == 1 and err[0].startswith(f"momentum-search: Optuna {optuna.__version__} changed internals") and named in err[0]
    )
    assert err[0].endswith("using Optuna's public API instead (slower, same results)")


def test_the_fast_open_attributes_are_those_rdbstorage_sets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An Optuna whose RDBStorage.__init__ sets one more attribute would leave the fast open's storage without it.
    monkeypatch.delenv(PUBLIC_API_ENV, raising=False)
    monkeypatch.setattr(_internals, "_INIT_ATTRIBUTES", _internals._INIT_ATTRIBUTES - {"grace_period"})
    on, err = _probed(capsys)
    assert not on and "RDBStorage.__init__ attributes (grace_period differ)" in err[0]
