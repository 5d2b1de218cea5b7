"""Epochs to a good μ, s: the paper's 5 × 5 grid against TPE with the hyperband pruner, side by side.

    python benchmarks/search_efficiency.py                       # digits, momentum-lstm, ~10 min on 2 cores
    python benchmarks/search_efficiency.py --epochs 6 --seeds 2 --tpe-seeds 0   # a quick look

Both arms search momentum-lstm's μ and s on the same task, with the same hidden size, epochs per trial (by
default the task's full training, 30 epochs on digits), training seeds and local workers (default 2, one
torch thread each):

- grid: every point of μ ∈ {0, .1, .3, .6, .9} × s ∈ {.1, .3, .6, .9, 1}, each trained to the last epoch on
  every seed (sampler grid, pruner none);
- TPE: μ ∈ [0, 0.9] and s ∈ [0.1, 1] as continuous ranges, as many trials as the grid has points, hyperband
  pruning on the first seed's curve (a pruned trial skips its other seeds; first rung ``--min-resource``
  epochs). Run once per sampler seed.

Epochs are what the trials record (``epochs_run``, summed over seeds). The grid's best is its best mean over
seeds; the threshold is that minus the best point's seed standard deviation (plus, for a metric to minimise).
"Epochs to reach it" walks a study's trials in the order they finished and adds up their epochs until the
first complete trial at or past the threshold; with several workers, the epochs the other trials running at
that moment had trained by then are added in proportion to their elapsed time. For scale, the script also
prints how many grid points meet the threshold and when the grid, visited in random order, would meet it on
average: a lenient threshold (a flat, noisy landscape) is met early by any order.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import console, load_line, print_table

from momentum_search.studies import launch, load_study, open_storage, parse_spec, threads_per_worker
from momentum_search.trainers import TASKS

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

MU_POINTS = (0.0, 0.1, 0.3, 0.6, 0.9)
S_POINTS = (0.1, 0.3, 0.6, 0.9, 1.0)
TARGET = 0.35  # TPE + pruning should reach the grid's best − 1 std within this share of the grid's epochs


@dataclass(frozen=True)
class Arm:
    """One finished study of the benchmark."""

    label: str
    direction: str  # "maximize" or "minimize"
    trials: list[FrozenTrial]  # every trial that ended (COMPLETE, PRUNED or FAIL)
    wall_time: float

    @property
    def complete(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state.name == "COMPLETE"]

    @property
    def best(self) -> FrozenTrial:
        sign = 1.0 if self.direction == "minimize" else -1.0
        return min(self.complete, key=lambda t: (sign * t.values[0], t.number))

    @property
    def epochs(self) -> int:
        return sum(_epochs(t) for t in self.trials)

    def reaches(self, value: float, threshold: float) -> bool:
        return value <= threshold if self.direction == "minimize" else value >= threshold

    def epochs_to(self, threshold: float) -> tuple[float, int] | None:
        """Epochs trained until the first complete trial at or past ``threshold``, and how many trials had
        finished by then; None if none got there."""
        finished = sorted(self.trials, key=lambda t: _time(t.datetime_complete))
        for count, trial in enumerate(finished, start=1):
            if trial.state.name != "COMPLETE" or not self.reaches(trial.values[0], threshold):
                continue
            at = _time(trial.datetime_complete)
            done = sum(_epochs(t) for t in finished[:count])
            # Trials still running then: the share of their epochs trained so far, by elapsed time.
            running = sum(
                _epochs(t) * (at - _time(t.datetime_start)) / (_time(t.datetime_complete) - _time(t.datetime_start))
                for t in finished[count:]
                if _time(t.datetime_start) < at
            )
            return done + running, count
        return None


def _epochs(trial: FrozenTrial) -> int:
    # A trial that reused an earlier one's result (same parameters, ``reused_from``) trained nothing.
    return 0 if "reused_from" in trial.user_attrs else int(trial.user_attrs.get("epochs_run") or 0)


def _time(moment: datetime | None) -> float:
    assert moment is not None, "finished trials have start and end times"
    return moment.timestamp()


def base_spec(args: argparse.Namespace, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "task": args.task,
        "cells": [args.cell],
        "fixed": {"hidden_size": args.hidden},
        "budget": {"epochs": args.epochs},
        "seeds": args.seeds,
    }


def run_arm(label: str, spec: dict[str, Any], *, storage: str, workers: int) -> Arm:
    console.print(f"  {label}: running … ({load_line()})")
    started = time.perf_counter()
    result = launch(parse_spec(spec), storage=storage, workers=workers)
    wall_time = time.perf_counter() - started
    if result.errors or result.interrupted:
        raise SystemExit(f"{label} failed: {'; '.join(result.errors) or 'interrupted'}")
    study = load_study(open_storage(storage), spec["name"])
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]
    console.print(f"  {label}: {len(trials)} trials in {wall_time:.0f} s ({load_line()})")
    return Arm(label, study.directions[0].name.lower(), trials, wall_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits", choices=("digits", "pdigits", "adding"))
    parser.add_argument("--cell", default="momentum-lstm", help="a kind that uses μ and s")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units")
    parser.add_argument("--epochs", type=int, help="epochs per trial and seed (default: the task's own)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per configuration (both arms)")
    parser.add_argument("--tpe-seeds", default="0,1000,2000",
                        help="TPE sampler seeds, one run each; far apart, since trial k samples with seed + k")  # fmt: skip
    parser.add_argument("--min-resource", type=int, default=1, help="hyperband's first rung, in epochs")
    parser.add_argument("--workers", type=int, default=2, help="local workers for every study")
    parser.add_argument("--storage", help="SQLAlchemy URL (default: a SQLite file in a temporary folder)")
    args = parser.parse_args()
    args.epochs = args.epochs or TASKS[args.task].defaults.epochs
    tpe_seeds = [int(seed) for seed in args.tpe_seeds.split(",")]
    run = uuid.uuid4().hex[:6]  # fresh study names: a reused storage must not resume an earlier run

    console.print(
        f"search efficiency: {args.cell} on {args.task}, hidden {args.hidden}, {args.epochs} epochs, "
        f"{args.seeds} seeds; {args.workers} workers × {threads_per_worker(args.workers)} torch threads"
    )
    console.print(f"start: {load_line()}")
    with tempfile.TemporaryDirectory(prefix="ms-bench-") as folder:
        storage = args.storage or f"sqlite:///{Path(folder) / 'search-efficiency.db'}"
        grid = run_arm(
            "grid 5 × 5",
            {
                **base_spec(args, f"grid-{run}"),
                "space": {"mu": {"points": list(MU_POINTS)}, "s": {"points": list(S_POINTS)}},
                "sampler": {"name": "grid"},
                "pruner": {"name": "none"},
            },
            storage=storage,
            workers=args.workers,
        )
        tpe_runs = [
            run_arm(
                f"TPE + hyperband, seed {seed}",
                {
                    **base_spec(args, f"tpe-{seed}-{run}"),
                    "space": {"mu": {"low": MU_POINTS[0], "high": MU_POINTS[-1]},
                              "s": {"low": S_POINTS[0], "high": S_POINTS[-1]}},  # fmt: skip
                    "budget": {"epochs": args.epochs, "trials": len(MU_POINTS) * len(S_POINTS)},
                    "sampler": {"name": "tpe", "seed": seed},
                    "pruner": {"name": "hyperband", "min_resource": args.min_resource},
                },
                storage=storage,
                workers=args.workers,
            )
            for seed in tpe_seeds
        ]
    report(grid, tpe_runs)


def report(grid: Arm, tpe_runs: list[Arm]) -> None:
    best = grid.best
    metric = best.user_attrs["metric"]
    std = best.user_attrs["value_std"] or 0.0
    threshold = best.values[0] + std if grid.direction == "minimize" else best.values[0] - std

    def reach(arm: Arm, target: float) -> str:
        reached = arm.epochs_to(target)
        if reached is None:
            return "not reached"
        return f"{reached[0]:.0f} = {reached[0] / grid.epochs:.2f} ({reached[1]} trials)"

    rows = []
    for arm in (grid, *tpe_runs):
        top = arm.best
        params = ", ".join(f"{k}={v:.2f}" for k, v in top.params.items() if k in ("mu", "s"))
        pruned = sum(t.state.name == "PRUNED" for t in arm.trials)
        rows.append([
            arm.label, f"{len(arm.complete)} / {pruned}", f"{top.values[0]:.2f} ± {top.user_attrs['value_std'] or 0:.2f}",
            " ".join(f"{v:.1f}" for v in top.user_attrs["seed_values"]), params, f"{top.user_attrs['test_value']:.2f}",
            str(arm.epochs), f"{arm.wall_time:.0f}", reach(arm, threshold), reach(arm, best.values[0]),
        ])  # fmt: skip
    console.print()
    print_table(
        f"validation {metric} ({grid.direction}): each study's best trial; epochs until a trial reached the grid's "
        f"best − 1 seed std ({threshold:.2f}) and the grid's best ({best.values[0]:.2f}), = × the grid's epochs",
        ["study", "complete / pruned", f"best {metric} ± seed std", "its seeds", "at", f"test {metric}", "epochs",
         "wall [s]", "epochs to best − 1 std", "epochs to grid best"],  # fmt: skip
        rows,
    )
    console.print(f"end: {load_line()}")
    ratios = [None if (r := arm.epochs_to(threshold)) is None else r[0] / grid.epochs for arm in tpe_runs]
    met = all(r is not None and r <= TARGET for r in ratios)
    shown = ", ".join("not reached" if r is None else f"{r:.2f}" for r in ratios)
    console.print(f"TPE + hyperband epochs to the grid's best − 1 std ÷ the grid's {grid.epochs} epochs: {shown} "
                  f"(target ≤ {TARGET}: {'met' if met else 'missed'})")  # fmt: skip
    # What the threshold asks for: how many grid points meet it, and when a random visiting order of the grid
    # would meet it on average (first success drawing without replacement: (n + 1) / (k + 1) points).
    k = sum(grid.reaches(t.values[0], threshold) for t in grid.complete)
    expected = (len(grid.complete) + 1) / (k + 1) * grid.epochs / len(grid.trials)
    console.print(f"for scale: {k} of the grid's {len(grid.complete)} points reach the threshold; the grid in random "
                  f"order reaches it after {expected:.0f} epochs on average = {expected / grid.epochs:.2f}")  # fmt: skip
    console.print("TPE + hyperband epochs in all ÷ grid epochs: " + ", ".join(f"{a.epochs / grid.epochs:.2f}" for a in tpe_runs))


if __name__ == "__main__":
    main()
