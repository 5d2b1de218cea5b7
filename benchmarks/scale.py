"""Many workers on one PostgreSQL study, straight to the database and through the storage proxy.

    python benchmarks/scale.py                                   # 8, 32 and 64 workers, direct and proxy
    python benchmarks/scale.py --workers 8 --trials-per-worker 2  # a quick look

Loopback only: the PostgreSQL server at 127.0.0.1:5432 (trust auth), in a database of its own created
for the run and dropped at the end, and ``momentum-search storage-proxy`` on 127.0.0.1 (a process of
its own, as users run it, ``--threads`` RPCs at once).

Each run is one study of ``workers × trials-per-worker`` queued trials, run by ``workers`` processes of
``run_worker`` (the engine's own claim, heartbeat and result path), each started with a deadline. The
trials do not train: 64 processes that each run torch need more memory than this machine has (about
290 MB each before a model), so the trainer is replaced in the workers by one that sleeps
``epoch-seconds`` per epoch and returns a fixed result: what is measured is the store's side. The
workers are forked from one process that imported the package once, so they share its memory.

Per run: trials by state (exactly the budget must be COMPLETE, and no trial more), the peak number of
PostgreSQL connections to the database (``pg_stat_activity``, sampled every 50 ms, this script's own
sampling connection left out), trials per second from the first trial's start to the last one's end (as
the database records them), and the claim latency, the time of each successful claim (reading the
queue and taking one WAITING trial) in the workers. A run that has not ended after ``--deadline``
seconds is stopped and reported as such.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from _common import console, load_line, postgres_database, print_table

from momentum_search.studies import create_or_resume, open_storage, parse_spec, run_worker

MODES = ("direct", "proxy")


@dataclass(frozen=True)
class Outcome:
    mode: str
    workers: int
    budget: int
    states: dict[str, int]
    errors: list[str]
    peak_connections: int
    trials_per_second: float
    claim_ms: list[float]
    wall: float
    stopped: bool  # hit the deadline


def _spec(name: str, budget: int, epochs: int) -> Any:
    return parse_spec(
        {
            "name": name,
            "task": "adding",
            "task_params": {"length": 8, "n_train": 32, "n_valid": 32, "n_test": 32},
            "cells": ["momentum-lstm"],
            "space": {"mu": {"low": 0.0, "high": 0.9}, "s": {"low": 0.1, "high": 1.0}},
            "fixed": {"hidden_size": 4},
            "budget": {"trials": budget, "epochs": epochs},
            "pruner": {"name": "none"},
            "sampler": {"name": "random"},
        }
    )


def _no_training(epoch_seconds: float) -> Any:
    """A stand-in for ``trainers.train``: the epochs' reports and a result, no model."""
    from momentum_search.trainers import TrainResult

    def train(config: Any, *, on_epoch: Any = None, on_batch: Any = None) -> TrainResult:
        started = time.monotonic()
        history = []
        for epoch in range(1, config.epochs + 1):
            time.sleep(epoch_seconds)
            history.append(1.0 / epoch)
            if on_epoch is not None and on_epoch(epoch, history[-1]):
                break
        return TrainResult(
            best_value=history[-1],
            best_epoch=len(history),
            test_value=history[-1],
            epochs_run=len(history),
            wall_time=time.monotonic() - started,
            diverged=False,
            stopped=len(history) < config.epochs,
            history=tuple(history),
            metric="mse",
            direction="minimize",
            config=config,
        )

    return train


def _worker(url: str, study: str, epoch_seconds: float, timeout: float, results: Any) -> None:
    from momentum_search.search import _objective
    from momentum_search.store import TrialStore

    _objective.train = _no_training(epoch_seconds)
    claims: list[float] = []
    claim = TrialStore.claim_trial

    def timed_claim(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        taken = claim(*args, **kwargs)
        if taken is not None:
            claims.append((time.perf_counter() - started) * 1000)
        return taken

    TrialStore.claim_trial = timed_claim  # type: ignore[method-assign]
    error = None
    try:
        run_worker(study, storage=url, threads=1, timeout=timeout, poll_interval=0.5)
    except Exception as exc:  # reported with the run, not raised: the other workers go on
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    results.put((claims, error))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_proxy(database: str, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "momentum_search.cli",
        "storage-proxy",
        "--storage",
        database,
        "--port",
        str(port),
        "--threads",
        str(threads),
    ]
    proxy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proxy.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proxy, f"grpc://127.0.0.1:{port}"
        time.sleep(0.2)
    proxy.kill()
    raise RuntimeError(f"the storage proxy did not listen on port {port}")


class _ConnectionPeak:
    """The most connections to the database seen at once, sampled in a thread."""

    def __init__(self, database: str) -> None:
        import sqlalchemy

        # Autocommit: within one transaction PostgreSQL answers every read of its statistics from one snapshot.
        self._engine = sqlalchemy.create_engine(database, poolclass=sqlalchemy.pool.StaticPool, isolation_level="AUTOCOMMIT")
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _ConnectionPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()
        self._engine.dispose()

    def _sample(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        with self._engine.connect() as connection:
            while not self._done.wait(0.05):
                self.peak = max(self.peak, connection.exec_driver_sql(query).scalar_one())


def run(
    database: str,
    mode: str,
    workers: int,
    *,
    per_worker: int,
    epochs: int,
    epoch_seconds: float,
    proxy_threads: int,
    deadline: float,
    context: Any,
) -> Outcome:
    import optuna
    from optuna.trial import TrialState

    name = f"scale-{mode}-{workers}-{uuid.uuid4().hex[:6]}"
    budget = workers * per_worker
    spec = _spec(name, budget, epochs)
    storage = open_storage(database)
    study, _ = create_or_resume(storage, spec)
    spec.engine().top_up(study, budget)
    storage.engine.dispose()  # this script's connections would count in the peak
    proxy = None
    url = database
    if mode == "proxy":
        proxy, url = _start_proxy(database, proxy_threads)
    results = context.Queue()
    processes = [
        context.Process(target=_worker, args=(url, name, epoch_seconds, deadline, results), daemon=True) for _ in range(workers)
    ]
    started = time.monotonic()
    stopped = False
    with _ConnectionPeak(database) as connections:
        for process in processes:
            process.start()
        reports = []
        for _ in processes:
            left = started + deadline + 30 - time.monotonic()
            try:
                reports.append(results.get(timeout=max(left, 0.1)))
            except Exception:
                stopped = True
                break
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                stopped = True
                process.kill()
        wall = time.monotonic() - started
    if proxy is not None:
        proxy.terminate()
        proxy.wait(timeout=30)
    trials = optuna.load_study(study_name=name, storage=open_storage(database)).get_trials(deepcopy=False)
    states = {state.name: sum(t.state == state for t in trials) for state in TrialState}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    span = (
        (max(t.datetime_complete for t in complete) - min(t.datetime_start for t in complete)).total_seconds()
        if complete
        else float("nan")
    )
    return Outcome(
        mode=mode,
        workers=workers,
        budget=budget,
        states={k: v for k, v in states.items() if v},
        errors=[error for _, error in reports if error],
        peak_connections=connections.peak,
        trials_per_second=len(complete) / span if span > 0 else float("nan"),
        claim_ms=[ms for claims, _ in reports for ms in claims],
        wall=wall,
        stopped=stopped,
    )


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64], help="worker processes per run")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--trials-per-worker", type=int, default=4, help="the budget is workers × this")
    parser.add_argument("--epochs", type=int, default=3, help="epochs each trial reports")
    parser.add_argument("--epoch-seconds", type=float, default=0.1, help="seconds each epoch sleeps")
    parser.add_argument("--proxy-threads", type=int, default=10, help="storage-proxy --threads")
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds after which a run is stopped")
    args = parser.parse_args()
    for workers in args.workers:
        if not 1 <= workers <= 256:
            parser.error(f"--workers must be in 1..256, got {workers}")

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Workers are forked from a server process that imported the package (and torch) once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["momentum_search.studies", "momentum_search.search", "optuna", "sqlalchemy"])
    console.print(f"scale: {load_line()}")
    outcomes = []
    with postgres_database() as database:
        for workers in args.workers:
            for mode in args.modes:
                outcome = run(
                    database,
                    mode,
                    workers,
                    per_worker=args.trials_per_worker,
                    epochs=args.epochs,
                    epoch_seconds=args.epoch_seconds,
                    proxy_threads=args.proxy_threads,
                    deadline=args.deadline,
                    context=context,
                )
                outcomes.append(outcome)
                console.print(f"  {mode} × {workers}: {outcome.states}, {outcome.wall:.1f} s; {load_line()}")
                for error in sorted(set(outcome.errors)):
                    console.print(f"    {outcome.errors.count(error)} worker(s): {error}")
    rows = []
    for o in outcomes:
        exact = o.states.get("COMPLETE", 0) == o.budget and sum(o.states.values()) == o.budget and not o.stopped
        rows.append(
            [
                o.mode,
                str(o.workers),
                str(o.budget),
                " ".join(f"{k.lower()} {v}" for k, v in o.states.items()),
                "yes" if exact else "NO",
                str(len(o.errors)),
                str(o.peak_connections),
                f"{o.trials_per_second:.1f}",
                f"{_percentile(o.claim_ms, 0.5):.0f}",
                f"{_percentile(o.claim_ms, 0.95):.0f}",
                f"{statistics.fmean(o.claim_ms):.0f}" if o.claim_ms else "–",
                f"{o.wall:.0f}",
            ]
        )
    print_table(
        f"{args.epochs} epochs × {args.epoch_seconds} s per trial, no training; proxy --threads {args.proxy_threads}",
        [
            "mode",
            "workers",
            "budget",
            "trials by state",
            "exact",
            "worker errors",
            "peak connections",
            "trials/s",
            "claim p50 [ms]",
            "claim p95 [ms]",
            "claim mean [ms]",
            "wall [s]",
        ],
        rows,
        numeric_from=1,
    )


if __name__ == "__main__":
    main()
