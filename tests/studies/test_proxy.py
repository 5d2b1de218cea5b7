"""Workers behind the storage proxy (real gRPC server process, real PostgreSQL): the budget, claims
and dead-worker retries work as on a database URL."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier

import optuna
import pytest
from study_specs import tiny_spec
from test_storage import FAST_HEARTBEAT, SLOW_TRIAL, _work
from optuna.trial import TrialState
from typer.testing import CliRunner

from momentum_search.cli import app
from momentum_search.studies import StorageError, create_or_resume, launch, open_storage, parse_spec
from momentum_search.store import HEARTBEAT_ATTR, Heartbeat, proxy_process


@contextlib.contextmanager
def _proxy_on(database: str | None, heartbeat: Heartbeat) -> Iterator[tuple[str, str]]:
    """(grpc URL, database URL): a storage proxy process on the test PostgreSQL database, reaping the
    trials of workers silent for ``heartbeat.grace_period`` seconds."""
    if database is None:
        pytest.skip("postgresql server not reachable on 127.0.0.1")
    with proxy_process(database, heartbeat=heartbeat) as url:
        yield url, database


# Function-scoped: a proxy reaps stale trials of every study in its database, so the 3-s one must be gone
# before a test whose workers beat every 10 s shares the database (it reaped their first trials).
@pytest.fixture
def proxy(server_databases: dict[str, str | None]) -> Iterator[tuple[str, str]]:
    """A proxy that reaps a silent worker's trial after 3 s: for the test that kills one."""
    with _proxy_on(server_databases["postgresql"], FAST_HEARTBEAT) as found:
        yield found


@pytest.fixture
def steady_proxy(server_databases: dict[str, str | None]) -> Iterator[tuple[str, str]]:
    """A proxy with the default grace period: where no worker dies, a beat late on a loaded machine must
    not reap a live worker's trial (with 3 s it did once, at a load of 15: a 17th trial, the retry)."""
    with _proxy_on(server_databases["postgresql"], Heartbeat()) as found:
        yield found


def test_two_workers_behind_the_proxy_finish_the_budget_when_one_is_killed(proxy: tuple[str, str], study_name: str) -> None:
    url, database = proxy
    spec = parse_spec(tiny_spec(study_name, **{**SLOW_TRIAL, "budget": {"trials": 3, "epochs": 3}}))
    study, _ = create_or_resume(open_storage(url, heartbeat=FAST_HEARTBEAT), spec)
    spec.engine().top_up(study, spec.trials)
    context = multiprocessing.get_context("spawn")
    # Both start claiming at once: a worker that spawned first could otherwise spend the whole budget
    # before the other one is up (seen under load).
    ready = context.Barrier(2)
    victim, survivor = (context.Process(target=_work_together, args=(url, study_name, ready)) for _ in range(2))
    victim.start()
    survivor.start()
    # Both mid-trial (one epoch reported each), so the victim surely holds one.
    deadline = time.monotonic() + 120
    while sum(bool(t.intermediate_values) for t in study.get_trials(states=(TrialState.RUNNING,))) < 2:
        assert time.monotonic() < deadline and victim.is_alive() and survivor.is_alive()
        time.sleep(0.1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join()
    # Workers behind the proxy reap nothing (theirs is no Optuna heartbeat storage): the proxy fails the
    # victim's trial after the grace period and queues a copy, which the survivor runs.
    survivor.join(timeout=120)
    assert survivor.exitcode == 0
    trials = optuna.load_study(study_name=study_name, storage=open_storage(database)).get_trials()
    states = [t.state for t in trials]
    assert len(trials) == 4 and states.count(TrialState.COMPLETE) == 3 and states.count(TrialState.FAIL) == 1
    killed = trials[states.index(TrialState.FAIL)]
    retried = [t for t in trials if t.system_attrs.get("retry_history") == [killed.number]]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE and retried[0].params == killed.params
    assert len(retried[0].intermediate_values) == 3
    assert len({t.user_attrs["worker"] for t in trials if t.state == TrialState.COMPLETE}) <= 2
    assert not any(HEARTBEAT_ATTR in t.system_attrs for t in trials)  # recorded as heartbeats, not as attrs


@pytest.mark.usefixtures("api")
def test_four_workers_behind_the_proxy_finish_exactly_the_budget(steady_proxy: tuple[str, str], study_name: str) -> None:
    url, database = steady_proxy
    spec = parse_spec(tiny_spec(study_name, budget={"trials": 16, "epochs": 2}))
    assert launch(spec, storage=url, workers=4, poll_interval=0.2).errors == []
    trials = optuna.load_study(study_name=study_name, storage=open_storage(database)).get_trials()
    # None lost, none duplicated, none created beyond the queue.
    assert [t.number for t in trials] == list(range(16))
    assert all(t.state == TrialState.COMPLETE for t in trials)


def _work_together(url: str, name: str, ready: Barrier) -> None:
    ready.wait(timeout=120)
    _work(url, name)


def test_a_bad_or_silent_proxy_fails_in_one_line() -> None:
    with pytest.raises(StorageError, match=r"expected grpc://HOST:PORT"):
        open_storage("grpc://nowhere")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens there
    started = time.monotonic()
    result = CliRunner().invoke(app, ["worker", "--study", "x", "--storage", f"grpc://127.0.0.1:{port}"])
    assert result.exit_code == 1 and time.monotonic() - started < 5
    assert result.stderr == f"error: cannot reach the storage proxy at grpc://127.0.0.1:{port}: Connection refused\n"


def test_a_proxy_process_that_cannot_serve_says_so_in_one_error() -> None:
    # Nothing listens on port 1: the child's serve_proxy fails to reach the database, and says why.
    with pytest.raises(StorageError, match=r"^storage proxy on postgresql://.*127\.0\.0\.1:1/none: .*127\.0\.0\.1:1"):
        with proxy_process("postgresql://nobody@127.0.0.1:1/none"):
            pytest.fail("a proxy without a database must not be yielded")


def test_a_proxy_process_killed_before_it_listens_gives_its_exit_code(server_databases: dict[str, str | None]) -> None:
    database = server_databases["postgresql"]
    if database is None:
        pytest.skip("postgresql server not reachable on 127.0.0.1")

    def kill_while_it_starts() -> None:  # a spawned proxy takes over a second to import and listen
        time.sleep(0.3)
        for child in multiprocessing.active_children():
            if child.name == "storage-proxy" and child.pid is not None:
                os.kill(child.pid, signal.SIGKILL)

    threading.Thread(target=kill_while_it_starts, daemon=True).start()
    with pytest.raises(StorageError, match=r"^storage proxy on postgresql\S*://\S+: exited with code -9$"):
        with proxy_process(database):
            pytest.fail("a killed proxy must not be yielded")
