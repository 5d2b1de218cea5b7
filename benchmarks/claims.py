"""What one claim costs a worker, at 100 and 10,000 finished trials, direct and through the storage proxy.

    python benchmarks/claims.py                               # SQLite, PostgreSQL and the proxy; 100 and 10,000 trials
    python benchmarks/claims.py --sizes 100 --claims 5 --backends sqlite   # a smoke test

A claim is what a worker does before it trains: fail the trials whose worker died, then take a WAITING
trial (``fail_stale_trials`` and ``TrialStore.claim_trial``, as ``OptunaEngine.run`` calls them). Each
store holds one study of ``size`` finished trials that look like the Optuna engine's (attrs and a value
per epoch, written in bulk as ``read_commands.py`` writes them) and ``--claims`` queued ones. Two ways
are timed, round-robin over the sizes, each claimed trial finished (untimed) before the next claim:

- ``kept``: the worker keeps its study between claims, as workers do now; Optuna's storage cache then
  reads only what is new or unfinished;
- ``reloaded``: the study loaded again for every claim, as workers did before (a fresh cache reads the
  whole study).

The sampler is Optuna's RandomSampler, so the figures are the store's cost and not a sampler's (TPE's
own cost grows with the trials it models, whatever the store does). The goal: a kept claim at 10,000
trials ≤ 1.5× one at 100.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from _common import console, load_line, postgres_database, print_table

BACKENDS = ("sqlite", "postgresql", "proxy")
STUDY = "claims"
RATIO = 1.5  # a kept claim at the largest size ÷ at the smallest


def build(url: str, size: int, claims: int) -> None:
    """A study of ``size`` finished trials and ``claims`` queued ones in ``url``."""
    import optuna
    from read_commands import build as build_trials

    build_trials(url, size, name=STUDY)
    from momentum_search.studies import open_storage

    storage = open_storage(url)
    study = optuna.load_study(study_name=STUDY, storage=storage)
    for _ in range(claims):
        study.enqueue_trial({})
    if storage.engine.name == "postgresql":
        # A study that grew to this size over hours has table statistics (autovacuum analyzes a table
        # every 10 % of new rows); one written in bulk a second ago has none, and PostgreSQL then scans
        # 210,000 attribute rows per claim instead of using the (trial_id, key) index.
        with storage.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")


def measure(urls: dict[int, str], claims: int) -> dict[tuple[int, str], float]:
    """Median milliseconds of a kept and of a reloaded claim on each store (by its size), round-robin
    over the stores, so that a change of load hits all alike."""
    import optuna
    from optuna.trial import TrialState

    from momentum_search.store import fail_stale_trials
    from momentum_search.studies import open_storage

    storages = {size: open_storage(url) for size, url in urls.items()}

    def load(size: int) -> optuna.Study:
        return optuna.load_study(study_name=STUDY, storage=storages[size], sampler=optuna.samplers.RandomSampler(seed=0))

    kept = {size: load(size) for size in urls}
    for study in kept.values():
        study.get_trials(deepcopy=False)  # the worker's first read, before its first claim
    times: dict[tuple[int, str], list[float]] = {(size, way): [] for size in urls for way in ("kept", "reloaded")}
    # The kept claims first, round-robin over the stores; then a few reloaded ones, which read a whole
    # study each (30 s at 10,000 trials here) and leave memory behind that would slow what follows.
    for way, rounds in (("kept", claims), ("reloaded", max(1, claims // 4))):
        for _ in range(rounds):
            for size in urls:
                storage = storages[size]
                gc.collect()  # untimed: garbage from before is not this claim's cost
                started = time.perf_counter()
                study = kept[size] if way == "kept" else load(size)
                fail_stale_trials(study)
                trial = storage.claim_trial(study)
                times[size, way].append(time.perf_counter() - started)
                assert trial is not None, "the queue ran out"
                storage.finish_trial(study, trial, TrialState.COMPLETE, attrs={}, values=[0.5])
    return {key: statistics.median(found) * 1000 for key, found in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,10000", help="finished trials per study, comma-separated")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite, postgresql, proxy (on PostgreSQL)")
    parser.add_argument("--claims", type=int, default=20, help="kept claims timed per store, and a quarter as many reloaded")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    backends = [b.strip() for b in args.backends.split(",")]
    if unknown := set(backends) - set(BACKENDS):
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    import optuna

    from momentum_search.store import proxy_process

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console.print(f"claim latency; start: {load_line()}")
    rows, found = [], {}
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        for backend in backends:
            urls = {}
            for size in sizes:
                if backend == "sqlite":
                    urls[size] = f"sqlite:///{Path(folder) / f'claims-{size}.db'}"
                    build(urls[size], size, args.claims + max(1, args.claims // 4))
                    continue
                database = stack.enter_context(postgres_database())
                build(database, size, args.claims + max(1, args.claims // 4))
                urls[size] = stack.enter_context(proxy_process(database)) if backend == "proxy" else database
            for (size, way), ms in measure(urls, args.claims).items():
                found[backend, size, way] = ms
            rows += [
                [backend, f"{size:,}", f"{found[backend, size, 'kept']:.1f}", f"{found[backend, size, 'reloaded']:.1f}"]
                for size in sizes
            ]
    print_table("Milliseconds per claim (median)", ["backend", "finished trials", "kept study", "reloaded per claim"], rows)
    low, high = min(sizes), max(sizes)
    if low != high:
        ratios = {b: found[b, high, "kept"] / found[b, low, "kept"] for b in backends}
        met = all(r <= RATIO for r in ratios.values())
        console.print(
            f"kept claim at {high:,} ÷ at {low:,}: "
            + ", ".join(f"{b} {r:.2f}×" for b, r in ratios.items())
            + f" (goal ≤ {RATIO}×: {'met' if met else 'missed'})"
        )
    console.print(f"end: {load_line()}")


if __name__ == "__main__":
    main()
