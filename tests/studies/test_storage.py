"""The storage contract: every test runs on a SQLite file, the real PostgreSQL and the real MariaDB."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import warnings
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from study_specs import tiny_spec
from optuna.trial import TrialState

from momentum_search.studies import (
    Heartbeat,
    SpecError,
    StorageError,
    create_or_resume,
    launch,
    open_storage,
    parse_spec,
    resolve_url,
    run_worker,
    study_spec,
)
from momentum_search.store import stored_trials

FAST_HEARTBEAT = Heartbeat(interval=1, grace_period=3)


def trials_of(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials()


def _claim_all(url: str, name: str, claims: multiprocessing.Queue[list[int]]) -> None:
    storage = open_storage(url)
    study_id = storage.get_study_id_from_name(name)
    mine = []
    while waiting := storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        for trial in waiting:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            if storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                mine.append(trial.number)
                break
    claims.put(mine)


def _work(url: str, name: str) -> None:
    run_worker(name, storage=url, heartbeat=FAST_HEARTBEAT, poll_interval=0.2)


# One trial long enough (about a second per epoch) to be interrupted in the middle.
SLOW_TRIAL = {
    "task_params": {"length": 30, "n_train": 4096, "n_valid": 64, "n_test": 32},
    "budget": {"trials": 1, "epochs": 3},
    "fixed": {"hidden_size": 16},
}


def _wait_for_a_reported_epoch(study: optuna.Study, worker: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + 120
    while not any(t.intermediate_values for t in study.get_trials(states=(TrialState.RUNNING,))):
        assert time.monotonic() < deadline and worker.is_alive()
        time.sleep(0.1)


@pytest.mark.usefixtures("api")
class TestStorageContract:
    def test_claims_are_atomic_across_processes(self, storage_url: str, study_name: str) -> None:
        # The primitive the exact budget rests on: 3 processes race for 80 WAITING trials, and each
        # trial goes to exactly one of them (plain pysqlite transactions hand some out twice).
        study = optuna.create_study(storage=open_storage(storage_url), study_name=study_name)
        for _ in range(80):
            study.enqueue_trial({})
        context = multiprocessing.get_context("spawn")
        claims = context.Queue()
        racers = [context.Process(target=_claim_all, args=(storage_url, study_name, claims)) for _ in range(3)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=120)
        assert [racer.exitcode for racer in racers] == [0] * len(racers)
        taken = [number for _ in racers for number in claims.get(timeout=10)]
        assert sorted(taken) == list(range(80))

    def test_a_small_study_runs_to_its_budget_and_records_each_trial(self, storage_url: str, study_name: str) -> None:
        spec = parse_spec(tiny_spec(study_name, seeds=[0, 1]))
        result = launch(spec, storage=storage_url, poll_interval=0.2)
        assert result.errors == [] and not result.resumed and result.enqueued == 4
        trials = trials_of(storage_url, study_name)
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
        for trial in trials:
            assert trial.user_attrs["config"]["cell"] == trial.params["cell"]
            assert trial.user_attrs["seeds"] == [0, 1] and len(trial.user_attrs["seed_values"]) == 2
            assert set(trial.intermediate_values) == {1, 2}
            assert trial.user_attrs["version"] == __import__("momentum_search").__version__
        stored = study_spec(optuna.load_study(study_name=study_name, storage=open_storage(storage_url)))
        assert stored == spec  # a worker needs nothing but the study name and the storage

    def test_the_plain_sql_read_gives_what_optuna_reads(self, storage_url: str, study_name: str) -> None:
        for name, trials in ((study_name, 3), (f"{study_name}-other", 2)):  # the other study's trials stay out
            spec = parse_spec(tiny_spec(name, budget={"trials": trials, "epochs": 2}))
            assert launch(spec, storage=storage_url, poll_interval=0.2).errors == []
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url))
        with warnings.catch_warnings():
            warnings.simplefilter("error", sqlalchemy.exc.SAWarning)  # e.g. a cartesian product in the query
            read = stored_trials(study)
        assert read == study.get_trials(deepcopy=False) and len(read) == 3

    # Each path once: a claim makes the same public calls on both, the finish differs. The public path
    # with 8 workers, where a 17th trial of 16 appeared (test_claim_race.py races both paths); with 4 it
    # added nothing but a minute to the suite.
    @pytest.mark.parametrize(("api", "workers"), [("private", 4), ("public", 8)], indirect=["api"])
    def test_many_workers_finish_exactly_the_budget(self, storage_url: str, study_name: str, workers: int) -> None:
        spec = parse_spec(tiny_spec(study_name, budget={"trials": 16, "epochs": 2}))
        result = launch(spec, storage=storage_url, workers=workers, poll_interval=0.2)
        assert result.errors == [] and result.threads == max(1, len(os.sched_getaffinity(0)) // workers)
        trials = trials_of(storage_url, study_name)
        # None lost, none duplicated, none created beyond the queue: exactly 16 trials, all complete.
        assert [t.number for t in trials] == list(range(16))
        assert all(t.state == TrialState.COMPLETE for t in trials)

    def test_relaunch_resumes_and_counts_earlier_trials(self, storage_url: str, study_name: str) -> None:
        spec = parse_spec(tiny_spec(study_name, budget={"trials": 2, "epochs": 1}))
        first = launch(spec, storage=storage_url, poll_interval=0.2)
        second = launch(spec, storage=storage_url, trials=5, poll_interval=0.2)
        third = launch(spec, storage=storage_url, trials=5, poll_interval=0.2)
        assert (first.enqueued, second.enqueued, third.enqueued) == (2, 3, 0)
        assert (second.resumed, third.resumed) == (True, True)
        assert len(trials_of(storage_url, study_name)) == 5
        # Resuming by name alone reads the stored spec.
        assert launch(study=study_name, storage=storage_url, trials=6, poll_interval=0.2).enqueued == 1
        assert len(trials_of(storage_url, study_name)) == 6

    def test_a_different_spec_under_the_same_name_is_refused(self, storage_url: str, study_name: str) -> None:
        launch(parse_spec(tiny_spec(study_name, budget={"trials": 1, "epochs": 1})), storage=storage_url)
        other = parse_spec(tiny_spec(study_name, budget={"trials": 1, "epochs": 2}))
        with pytest.raises(SpecError, match="exists with a different spec"):
            launch(other, storage=storage_url)
        assert len(trials_of(storage_url, study_name)) == 1

    # The default path alone: failing a stale trial and queueing its copy are Optuna's public calls on both.
    @pytest.mark.parametrize("api", ["private"], indirect=True)
    def test_a_killed_worker_leaves_its_trial_failed_and_retried(self, storage_url: str, study_name: str) -> None:
        spec = parse_spec(tiny_spec(study_name, **SLOW_TRIAL))
        storage = open_storage(storage_url, heartbeat=FAST_HEARTBEAT)
        study, _ = create_or_resume(storage, spec)
        spec.engine().top_up(study, spec.trials)
        victim = multiprocessing.get_context("spawn").Process(target=_work, args=(storage_url, study_name))
        victim.start()
        _wait_for_a_reported_epoch(study, victim)
        os.kill(victim.pid, signal.SIGKILL)  # mid-trial: one epoch reported, two to go
        victim.join()
        # A surviving worker fails the stale trial after the grace period and runs its copy.
        assert run_worker(study_name, storage=storage_url, heartbeat=FAST_HEARTBEAT, poll_interval=0.2) == 1
        killed, retried = study.get_trials()
        assert killed.state == TrialState.FAIL
        assert killed.user_attrs["reason"] == "worker lost: no heartbeat for over 3 s"
        assert retried.state == TrialState.COMPLETE and retried.params == killed.params
        assert retried.system_attrs["retry_history"] == [killed.number]
        assert len(retried.intermediate_values) == 3

    def test_invalid_values_write_nothing(self, storage_url: str, study_name: str) -> None:
        spec = parse_spec(tiny_spec(study_name))
        for bad in ({"trials": 0}, {"timeout": -1.0}):
            with pytest.raises(SpecError):
                launch(spec, storage=storage_url, **bad)
        with pytest.raises(ValueError, match=r"workers must be in \[1, 64\], got 0"):
            launch(spec, storage=storage_url, workers=0)
        bad_task = parse_spec(tiny_spec(study_name, task_params={"length": 1}))
        with pytest.raises(SpecError, match=r"task_params \(task adding\): .*length"):
            launch(bad_task, storage=storage_url)
        assert study_name not in optuna.get_all_study_names(open_storage(storage_url))


def test_a_paused_worker_cannot_finish_a_trial_that_was_retried(tmp_path: Path, study_name: str) -> None:
    # A worker frozen longer than the grace period (SIGSTOP: a suspended laptop, a stalled VM) looks
    # dead; its trial is retried elsewhere, and when it wakes up its result must not count twice.
    url = f"sqlite:///{tmp_path / 'paused.db'}"
    spec = parse_spec(tiny_spec(study_name, **SLOW_TRIAL))
    storage = open_storage(url, heartbeat=FAST_HEARTBEAT)
    study, _ = create_or_resume(storage, spec)
    spec.engine().top_up(study, spec.trials)
    sleeper = multiprocessing.get_context("spawn").Process(target=_work, args=(url, study_name))
    sleeper.start()
    _wait_for_a_reported_epoch(study, sleeper)
    os.kill(sleeper.pid, signal.SIGSTOP)
    try:
        assert run_worker(study_name, storage=url, heartbeat=FAST_HEARTBEAT, poll_interval=0.2) == 1
    finally:
        os.kill(sleeper.pid, signal.SIGCONT)
    sleeper.join(timeout=120)
    assert sleeper.exitcode == 0  # it noticed, dropped its result and found nothing left to do
    stale, retried = study.get_trials()
    assert stale.state == TrialState.FAIL and retried.state == TrialState.COMPLETE
    assert retried.system_attrs["retry_history"] == [stale.number]


def test_nothing_is_created_when_the_spec_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    with pytest.raises(SpecError):
        launch(parse_spec(tiny_spec("never")), storage=url, trials=0)
    assert not (tmp_path / "never.db").exists()


def test_an_unreachable_server_fails_in_one_line_without_the_password() -> None:
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        open_storage("postgresql+psycopg2://user:s3cret-pw@127.0.0.1:1/db")
    message = str(caught.value)
    assert "s3cret-pw" not in message and "***" in message and "\n" not in message
    assert message.startswith("cannot open storage postgresql+psycopg2://user:***@127.0.0.1:1/db: ")
    assert time.monotonic() - started < 15


def test_sqlite_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="folder .*nowhere does not exist"):
        open_storage(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")


def test_storage_urls_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOMENTUM_SEARCH_STORAGE", raising=False)
    assert resolve_url(None) == f"sqlite:///{tmp_path / 'momentum-search.db'}"
    monkeypatch.setenv("MOMENTUM_SEARCH_STORAGE", "sqlite:///other.db")
    assert resolve_url(None) == f"sqlite:///{tmp_path / 'other.db'}"
    assert resolve_url("postgresql://u:p@h/db").startswith("postgresql+psycopg")
    with pytest.raises(StorageError, match="in-memory SQLite"):
        resolve_url("sqlite://")
    with pytest.raises(StorageError, match="not a SQLAlchemy URL"):
        resolve_url("no url at all")


def test_sqlite_storage_runs_in_wal_mode(tmp_path: Path) -> None:
    import sqlite3

    open_storage(f"sqlite:///{tmp_path / 'wal.db'}")
    with sqlite3.connect(tmp_path / "wal.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_read_command_answers_while_a_writer_holds_the_sqlite_lock(
    tmp_path: Path, study_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from momentum_search.studies import list_studies, show_study
    from momentum_search.store import _open

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    create_or_resume(open_storage(url), parse_spec(tiny_spec(study_name)))
    monkeypatch.setattr(_open, "SQLITE_BUSY_TIMEOUT", 2.0)  # a reader that queued would fail after 2 s
    writer = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # as a worker claiming or finishing a trial
    try:
        started = time.monotonic()
        assert [summary.name for summary in list_studies(url)] == [study_name]
        assert show_study(study_name, storage=url).name == study_name
        assert time.monotonic() - started < 2.0
    finally:
        writer.rollback()
        writer.close()
