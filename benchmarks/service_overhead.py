"""What the study service costs: time added per trial, 1 against 2 local workers, and a 10,000-trial study.

    python benchmarks/service_overhead.py                      # SQLite and PostgreSQL, Optuna and Ray engines
    python benchmarks/service_overhead.py --backends sqlite --engines optuna --trials 60 --stored 1000   # a quick look

PostgreSQL is the server at 127.0.0.1:5432 (trust auth); every section works in a database of its own,
created for the run and dropped at the end. SQLite files live in a temporary folder.

1. Overhead per trial. A study of many very short trials (the adding task cut to 64 sequences of 10 steps,
   hidden size 8, 3 epochs, one seed; the quickstart's three cells, TPE and median pruning), one worker,
   driven through ``launch`` in this process. Each trial's cycle is the time from one trial's end to the
   next one's (as the storage records them), so the launch's one-off setup is left out. The service adds
   ``cycle − trainer``, where trainer is the time inside the engine's call of the trial function
   (``evaluate``: task, model, epochs, test pass; the trainer's own ``wall_time`` covers the epochs alone and
   is shown next to it). A trial that reuses an earlier one's result (same parameters, as the plain lstm
   gets) trains nothing and costs only the service. The service time splits into the time between trials
   (scheduling: reloading the study, the stale-trial check, claiming the next trial) and the time inside
   them (sampling, reporting each epoch to the pruner, recording the result), and, by where the time goes,
   into the storage (inside ``RDBStorage``: SQL, ORM and commits, with the number of SQL statements), the
   sampler and pruner (their own computation), and the rest. On Ray the trials train in Ray's processes, so
   trainer is their ``wall_time``. The absolute time is what a trial of any length pays with the same
   epochs, so its share of a 10-second trial is that time ÷ 10 s.
2. Throughput. The same study of trials taking about a second of single-thread compute (digits, hidden
   32), run with 1 and with 2 local workers (``cores // workers`` torch threads each; on Ray, 1 or 2
   trials at once with the same threads), no pruning, no new trial after 45 s; on Optuna also one worker
   with one thread. Trials per minute over the whole launch, and from the first trial's start (without the
   launch's setup and the workers' interpreter start); 2 workers are compared with the faster single worker.
3. A study of 10,000 stored trials (the quickstart's spec with 3 seeds and 20 epochs, trials written
   directly with Optuna with every attribute a trial records): ``studies list``, ``studies show``,
   ``export`` and ``plot --no-gradient-flow`` timed as the commands a user types (a new interpreter each),
   and as the library calls behind them in this process.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import math
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import console, load_line, postgres_database, print_table

from momentum_search.search import Evaluation
from momentum_search.studies import (
    StudySpec,
    create_or_resume,
    export_study,
    launch,
    list_studies,
    load_study,
    open_storage,
    parse_spec,
    run_worker,
    show_study,
    threads_per_worker,
)
from momentum_search.trainers import TrainResult

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

BACKENDS = ("sqlite", "postgresql")
ENGINES = ("optuna", "ray")
TRIAL_SECONDS = 10.0  # the trial length the overhead target is stated for
OVERHEAD_TARGET = 0.05  # of a 10-second trial
SPEEDUP_TARGET = 1.7  # 2 workers against 1 on 2 cores
COMMAND_TARGET = 5.0  # seconds for list, show, export and plot of a 10,000-trial study
QUICKSTART_SPACE = {
    "mu": {"low": 0.0, "high": 0.95},
    "s": {"low": 0.1, "high": 2.0, "log": True},
    "beta": {"low": 0.0, "high": 0.999},
}


# ---- 1. overhead per trial ---------------------------------------------------------------------


@dataclass
class Ledger:
    """Time spent inside instrumented calls, by category, each call stamped with its wall-clock start.

    Exclusive: a storage call made by the sampler counts as storage, not as sampling.
    """

    calls: list[tuple[str, float, float]] = field(default_factory=list)  # category, start (epoch s), seconds
    statements: list[float] = field(default_factory=list)  # start of each SQL statement (epoch s)
    _local: threading.local = field(default_factory=threading.local)

    def timed(self, category: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            stack = self._local.__dict__.setdefault("stack", [])
            stack.append(0.0)  # time spent in nested instrumented calls
            start_wall, start = time.time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                nested = stack.pop()
                if stack:
                    stack[-1] += elapsed
                self.calls.append((category, start_wall, elapsed - nested))

        return wrapper

    def seconds(self, category: str, start: float, end: float) -> float:
        return sum(s for c, t, s in self.calls if c == category and start <= t < end)


@contextmanager
def instrumented() -> Iterator[Ledger]:
    """Time the trial function, the storage, sampler and pruner classes, and count SQL statements, while the
    block runs (in this process: a worker of ``launch(workers=1)``, or Ray's driver)."""
    import optuna
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from momentum_search.search import _optuna as optuna_engine

    ledger = Ledger()
    # The engine's call of the trial function: everything the trainer does (task, model, epochs, test pass).
    targets: list[tuple[Any, str, tuple[str, ...] | None]] = [(optuna_engine, "trainer", ("evaluate",))]
    targets += [(optuna.storages.RDBStorage, "storage", None)]
    targets += [
        (
            optuna.samplers.TPESampler,
            "sampler",
            ("infer_relative_search_space", "sample_relative", "sample_independent", "before_trial", "after_trial"),
        )
    ]
    targets += [(optuna.pruners.MedianPruner, "pruner", ("prune",)), (optuna.pruners.HyperbandPruner, "pruner", ("prune",))]
    originals: list[tuple[Any, str, Any]] = []
    for owner, category, names in targets:
        for name in names or [n for n, v in vars(owner).items() if inspect.isfunction(v) and not n.startswith("__")]:
            originals.append((owner, name, owner.__dict__.get(name)))
            setattr(owner, name, ledger.timed(category, getattr(owner, name)))

    def count(*_: Any) -> None:
        ledger.statements.append(time.time())

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield ledger
    finally:
        event.remove(Engine, "before_cursor_execute", count)
        for owner, name, original in reversed(originals):
            if original is None:
                delattr(owner, name)  # it was inherited
            else:
                setattr(owner, name, original)


def overhead_spec(name: str, trials: int) -> dict[str, Any]:
    return {
        "name": name,
        "task": "adding",
        "task_params": {"length": 10, "n_train": 64, "n_valid": 64, "n_test": 64},
        "cells": ["lstm", "momentum-lstm", "adam-lstm"],
        "space": QUICKSTART_SPACE,
        "fixed": {"hidden_size": 8, "batch_size": 64},
        "budget": {"trials": trials, "epochs": 3},
        "seeds": 1,
        "sampler": {"name": "tpe", "seed": 0},
        "pruner": {"name": "median"},
    }


@dataclass(frozen=True)
class Overhead:
    """Per-trial figures of one overhead study, in seconds."""

    trials: int
    cycle: float
    trainer: float  # the trial function; its wall_time alone where it runs elsewhere (Ray)
    wall_time: float  # the trainer's own epochs
    between: float  # from one trial's end to the next one's start
    storage: float
    statements: float
    sampler: float
    pruner: float
    by_stage: list[str]  # service per trial [ms] in consecutive stages of the study

    @property
    def service(self) -> float:
        return self.cycle - self.trainer


def launch_study(
    spec: dict[str, Any], storage: str, *, engine: str, workers: int, threads: int | None = None
) -> tuple[float, list[FrozenTrial]]:
    """Run a study to its budget; returns the launch's wall time and the finished trials by completion.

    ``threads`` (Optuna, one worker): run that worker in this process with so many torch threads instead of
    ``launch``'s ``cores // workers``, as ``momentum-search worker`` would after the queue is filled.
    """
    options: dict[str, Any] = {"workers": workers}
    if engine == "ray":
        # Ray runs as many trials at once as cpus_per_trial allows; the same threads as local workers.
        options = {"engine": "ray", "cpus_per_trial": threads_per_worker(workers)}
    parsed = parse_spec(spec)
    started = time.perf_counter()
    if threads is None:
        result = launch(parsed, storage=storage, **options)
        if result.errors or result.interrupted:
            raise RuntimeError("; ".join(result.errors) or "interrupted")
    else:
        study, _ = create_or_resume(open_storage(storage), parsed)
        parsed.engine().top_up(study, parsed.trials)
        run_worker(parsed.name, storage=storage, threads=threads, timeout=parsed.budget.timeout)
    elapsed = time.perf_counter() - started
    trials = load_study(open_storage(storage), spec["name"]).get_trials(deepcopy=False)
    finished = [t for t in trials if t.datetime_complete is not None]
    return elapsed, sorted(finished, key=lambda t: t.datetime_complete)  # type: ignore[arg-type,return-value]


def trained(trial: FrozenTrial) -> float:
    """The trainer's epoch time of ``trial``; 0 for a trial that copied the result of an earlier one with the
    same parameters (``reused_from``) instead of training."""
    return 0.0 if "reused_from" in trial.user_attrs else float(trial.user_attrs.get("wall_time") or 0.0)


def measure_overhead(storage: str, *, engine: str, trials: int, stages: int = 3) -> Overhead:
    spec = overhead_spec(f"overhead-{engine}-{uuid.uuid4().hex[:6]}", trials)
    with instrumented() as ledger:
        _, finished = launch_study(spec, storage, engine=engine, workers=1)
    ends = [t.datetime_complete.timestamp() for t in finished]  # type: ignore[union-attr]
    starts = [t.datetime_start.timestamp() for t in finished]  # type: ignore[union-attr]
    walls = [trained(t) for t in finished]

    def per_trial(lo: int, hi: int) -> tuple[float, float, float]:
        """Cycle, trainer and wall time per trial over cycles lo..hi-1 (cycle i: trial i-1's end to trial i's)."""
        window = (ends[lo - 1], ends[hi - 1])
        trainer = ledger.seconds("trainer", *window) or sum(walls[lo:hi])  # Ray trains in other processes
        return (window[1] - window[0]) / (hi - lo), trainer / (hi - lo), statistics.fmean(walls[lo:hi])

    cycles = len(finished) - 1
    cycle, trainer, wall_time = per_trial(1, len(finished))
    size = math.ceil(cycles / stages)
    by_stage = []
    for lo in range(1, len(finished), size):
        stage_cycle, stage_trainer, _ = per_trial(lo, min(len(finished), lo + size))
        by_stage.append(f"{(stage_cycle - stage_trainer) * 1000:.0f}")
    first, last = ends[0], ends[-1]
    return Overhead(
        trials=len(finished),
        cycle=cycle,
        trainer=trainer,
        wall_time=wall_time,
        between=statistics.fmean(max(0.0, s - e) for s, e in zip(starts[1:], ends[:-1], strict=True)),
        storage=ledger.seconds("storage", first, last) / cycles,
        statements=sum(first <= t < last for t in ledger.statements) / cycles,
        sampler=ledger.seconds("sampler", first, last) / cycles,
        pruner=ledger.seconds("pruner", first, last) / cycles,
        by_stage=by_stage,
    )


def overhead_section(urls: dict[str, str], engines: list[str], trials: int) -> bool:
    console.print(f"\n1. overhead per trial: {trials} very short trials, 1 worker ({load_line()})")
    rows, shares = [], []
    for backend, url in urls.items():
        for engine in engines:
            try:
                o = measure_overhead(url, engine=engine, trials=trials)
            except (ImportError, ValueError, RuntimeError) as error:
                rows.append([backend, engine, f"{engine}: engine not available ({error})"] + [""] * 11)
                continue
            ms = 1000.0
            other = o.service - o.storage - o.sampler - o.pruner
            shares.append(o.service / TRIAL_SECONDS)
            rows.append(
                [
                    backend,
                    engine,
                    str(o.trials),
                    f"{o.cycle * ms:.1f}",
                    f"{o.trainer * ms:.1f}",
                    f"{o.wall_time * ms:.1f}",
                    f"{o.service * ms:.1f}",
                    f"{o.between * ms:.1f}",
                    f"{(o.service - o.between) * ms:.1f}",
                    f"{o.storage * ms:.1f} ({o.statements:.0f})",
                    f"{(o.sampler + o.pruner) * ms:.1f}",
                    f"{other * ms:.1f}",
                    " / ".join(o.by_stage),
                    f"{o.service / TRIAL_SECONDS:.2%}",
                ]
            )
    print_table(
        "time per trial [ms]: service = cycle − trainer, split into between / within trials and into storage "
        "(SQL statements), sampler + pruner, other",
        [
            "backend",
            "engine",
            "trials",
            "cycle",
            "trainer",
            "its epochs",
            "service",
            "between",
            "within",
            "storage",
            "sampler+pruner",
            "other",
            "service by thirds of the study",
            "÷ 10-s trial",
        ],
        rows,
        numeric_from=2,
    )
    met = bool(shares) and max(shares) <= OVERHEAD_TARGET
    console.print(
        f"overhead ÷ a 10-second trial: {', '.join(f'{s:.2%}' for s in shares)} "
        f"(target ≤ {OVERHEAD_TARGET:.0%}: {'met' if met else 'missed'}); {load_line()}"
    )
    return met


# ---- 2. throughput with 1 and 2 workers --------------------------------------------------------


def throughput_spec(name: str, trials: int, epochs: int, timeout: float) -> dict[str, Any]:
    return {
        "name": name,
        "task": "digits",
        "cells": ["momentum-lstm"],
        "space": {"mu": QUICKSTART_SPACE["mu"], "s": QUICKSTART_SPACE["s"]},
        "fixed": {"hidden_size": 32},
        # The timeout bounds a configuration whose trials crawl (several torch threads on a busy machine).
        "budget": {"trials": trials, "epochs": epochs, "timeout": timeout},
        "seeds": 1,
        "sampler": {"name": "tpe", "seed": 0},
        "pruner": {"name": "none"},  # every trial the same length: the workers' speed, not the pruner's luck
    }


def throughput_section(urls: dict[str, str], engines: list[str], trials: int, epochs: int, timeout: float) -> bool:
    console.print(
        f"\n2. throughput: {trials} trials of {epochs} digits epochs or {timeout:.0f} s, 1 and 2 workers ({load_line()})"
    )
    rows, ratios = [], []
    for backend, url in urls.items():
        for engine in engines:
            # (workers, torch threads each): launch's own split of the cores, and on Optuna one worker with one
            # thread too: several torch threads on a shared machine can be slower than one (benchmarks/README.md, Service overhead).
            runs = [(1, None), (2, None)] + ([(1, 1)] if engine == "optuna" else [])
            rates: dict[tuple[int, int | None], tuple[float, float]] = {}
            for workers, threads in runs:
                spec = throughput_spec(f"throughput-{engine}-{workers}-{uuid.uuid4().hex[:6]}", trials, epochs, timeout)
                try:
                    elapsed, finished = launch_study(spec, url, engine=engine, workers=workers, threads=threads)
                except (ImportError, ValueError, RuntimeError) as error:
                    rows.append([backend, engine, str(workers), f"{engine}: engine not available ({error})"] + [""] * 5)
                    continue
                first = min(t.datetime_start.timestamp() for t in finished)  # type: ignore[union-attr]
                span = finished[-1].datetime_complete.timestamp() - first  # type: ignore[union-attr]
                rates[workers, threads] = (60 * len(finished) / elapsed, 60 * len(finished) / span)
                wall = statistics.fmean(trained(t) for t in finished)
                rows.append(
                    [
                        backend,
                        engine,
                        str(workers),
                        str(threads or threads_per_worker(workers)),
                        str(len(finished)),
                        f"{wall:.2f}",
                        f"{elapsed:.1f}",
                        f"{rates[workers, threads][0]:.1f}",
                        f"{rates[workers, threads][1]:.1f}",
                    ]
                )
            if (2, None) in rates and (ones := [rate for (workers, _), rate in rates.items() if workers == 1]):
                # Against the faster single worker: two workers must beat one at its best, not at its worst.
                one = max(ones, key=lambda rate: rate[1])
                ratio = (rates[2, None][0] / one[0], rates[2, None][1] / one[1])
                ratios.append(ratio[1])
                rows.append([backend, engine, "2 ÷ faster 1", "", "", "", "", f"{ratio[0]:.2f}×", f"{ratio[1]:.2f}×"])
    print_table(
        "trials per minute",
        [
            "backend",
            "engine",
            "workers",
            "threads each",
            "trials",
            "trainer s/trial",
            "launch [s]",
            "whole launch",
            "from first trial start",
        ],
        rows,
        numeric_from=2,
    )
    met = bool(ratios) and min(ratios) >= SPEEDUP_TARGET
    console.print(
        f"2 workers ÷ the faster single worker, from the first trial's start: {', '.join(f'{r:.2f}×' for r in ratios)} "
        f"(target ≥ {SPEEDUP_TARGET}×: {'met' if met else 'missed'}); {load_line()}"
    )
    return met


# ---- 3. a study of 10,000 stored trials --------------------------------------------------------


def stored_spec(name: str, trials: int) -> StudySpec:
    return parse_spec(
        {
            "name": name,
            "task": "digits",
            "cells": ["lstm", "momentum-lstm", "adam-lstm"],
            "space": QUICKSTART_SPACE,
            "fixed": {"hidden_size": 64},
            "budget": {"trials": trials, "epochs": 20},
            "seeds": 3,
            "sampler": {"name": "tpe", "seed": 0},
            "pruner": {"name": "median"},
        }
    )


def _draw(distribution: BaseDistribution, rng: random.Random) -> Any:
    from optuna.distributions import CategoricalDistribution

    if isinstance(distribution, CategoricalDistribution):
        return rng.choice(distribution.choices)
    low, high = distribution.low, distribution.high  # type: ignore[attr-defined]
    if distribution.log:  # type: ignore[attr-defined]
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.uniform(low, high)


def synthetic_trials(spec: StudySpec, count: int, *, seed: int = 0) -> list[FrozenTrial]:
    """``count`` finished trials as the Optuna engine records them (:meth:`Evaluation.attrs`): 70 % complete
    on every seed, the rest pruned after the first seed's k-th epoch; accuracy curves that rise with
    time towards a plateau that depends on the cell and its parameters."""
    import optuna
    from optuna.trial import TrialState

    rng = random.Random(seed)
    space, plan = spec.search_space(), spec.trial_plan()
    distributions = space.distributions()
    epochs = spec.budget.epochs or 1
    trials = []
    for _ in range(count):
        cell = rng.choice(spec.cells)
        params = {"cell": cell, **{name: _draw(distributions[name], rng) for name in space.parameters(cell)}}
        plateau = 90 - 30 * (params.get("mu", 0.6) - 0.6) ** 2 - 8 * math.log(params.get("s", 0.6) / 0.6) ** 2
        pruned = rng.random() < 0.3
        results = []
        for train_seed in spec.seeds[:1] if pruned else spec.seeds:
            length = rng.randint(1, epochs - 1) if pruned else epochs
            history = tuple(
                min(100.0, max(0.0, plateau * (1 - math.exp(-e / 5)) + rng.gauss(0, 2))) for e in range(1, length + 1)
            )
            best = max(history)
            results.append(
                TrainResult(
                    best_value=best,
                    best_epoch=history.index(best) + 1,
                    test_value=best - rng.uniform(0, 3),
                    epochs_run=length,
                    wall_time=0.4 * length,
                    diverged=False,
                    stopped=pruned,
                    history=history,
                    metric="accuracy",
                    direction="maximize",
                    config=plan.config(params, seed=train_seed),
                )
            )
        evaluation = Evaluation(results=tuple(results), seeds=spec.seeds)
        trials.append(
            optuna.trial.create_trial(
                state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
                value=None if pruned else evaluation.value,
                params=params,
                distributions={name: distributions[name] for name in params},
                user_attrs={**evaluation.attrs(), "reason": evaluation.reason(), "worker": "benchmark:0"},
                intermediate_values=dict(enumerate(results[0].history, start=1)),
            )
        )
    return trials


def write_trials(url: str, spec: StudySpec, trials: list[FrozenTrial]) -> None:
    """Store ``trials`` in a new study made from ``spec``, as ``Study.add_trials`` would, in one bulk insert.

    ``add_trials`` writes a trial with some 80 statements (a lookup before every attribute), ~75 ms a trial on
    this machine, so 10,000 would take longer than the whole benchmark; here each table of Optuna's schema
    gets one multi-row insert, and the study is read back through Optuna to check what was written.
    Optuna's table models come from the one module that touches its storage internals, on the Optuna
    versions that module was tested on.
    """
    import json

    import optuna
    from optuna.distributions import distribution_to_json
    from sqlalchemy import insert

    from momentum_search.store._internals import sql_backend

    storage = open_storage(url)
    sql = sql_backend(storage)
    study, _ = create_or_resume(storage, spec)
    if sql is None:
        # Optuna's internals are off (changed in this Optuna, or MOMENTUM_SEARCH_PUBLIC_API): its public
        # add_trials writes the same rows, about 75 ms a trial.
        console.print(
            f"[yellow]writing {len(trials):,} trials through Optuna's public add_trials (Optuna {optuna.__version__}: "
            "the store's internals are off); slower, the timings after it are not affected[/]"
        )
        study.add_trials(trials)
        _check_written(url, spec, trials)
        return
    models = sql[1]
    study_id = storage.get_study_id_from_name(spec.name)
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # Optuna stores naive UTC
    trial_table = models.TrialModel.__table__
    with storage.engine.begin() as connection:
        ids = (
            connection.execute(
                insert(trial_table).returning(trial_table.c.trial_id, sort_by_parameter_order=True),
                [
                    {
                        "number": number,
                        "study_id": study_id,
                        "state": trial.state,
                        "datetime_start": now,
                        "datetime_complete": now,
                    }
                    for number, trial in enumerate(trials)
                ],
            )
            .scalars()
            .all()
        )
        rows: dict[Any, list[dict[str, Any]]] = {
            model: []
            for model in (
                models.TrialValueModel,
                models.TrialParamModel,
                models.TrialUserAttributeModel,
                models.TrialIntermediateValueModel,
            )
        }
        for trial_id, trial in zip(ids, trials, strict=True):
            if trial.value is not None:
                rows[models.TrialValueModel].append(
                    {
                        "trial_id": trial_id,
                        "objective": 0,
                        "value": trial.value,
                        "value_type": models.TrialValueModel.TrialValueType.FINITE,
                    }
                )
            rows[models.TrialParamModel] += [
                {
                    "trial_id": trial_id,
                    "param_name": name,
                    "param_value": trial.distributions[name].to_internal_repr(value),
                    "distribution_json": distribution_to_json(trial.distributions[name]),
                }
                for name, value in trial.params.items()
            ]
            rows[models.TrialUserAttributeModel] += [
                {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)} for key, value in trial.user_attrs.items()
            ]
            rows[models.TrialIntermediateValueModel] += [
                {
                    "trial_id": trial_id,
                    "step": step,
                    "intermediate_value": value,
                    "intermediate_value_type": models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE,
                }
                for step, value in trial.intermediate_values.items()
            ]
        for model, values in rows.items():
            connection.execute(insert(model.__table__), values)
    _check_written(url, spec, trials)


def _check_written(url: str, spec: StudySpec, trials: list[FrozenTrial]) -> None:
    """Read the study back through Optuna: its trial count and the last trial as written."""
    stored = load_study(open_storage(url), spec.name).get_trials(deepcopy=False)
    sample = stored[-1]
    if len(stored) != len(trials) or (sample.params, sample.user_attrs, sample.intermediate_values, sample.value) != (
        trials[-1].params,
        trials[-1].user_attrs,
        trials[-1].intermediate_values,
        trials[-1].value,
    ):
        raise RuntimeError("the stored trials differ from those written")


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("momentum-search")
    return [str(script)] if script.exists() else [sys.executable, "-m", "momentum_search.cli"]


def stored_section(urls: dict[str, str], count: int, folder: Path) -> bool:
    console.print(f"\n3. a study of {count:,} stored trials ({load_line()})")
    from momentum_search import dashboards  # imported up front: in-process timings leave out imports

    name = "stored"
    spec = stored_spec(name, count)
    trials = synthetic_trials(spec, count)
    rows, worst = [], 0.0
    for backend, url in urls.items():
        started = time.perf_counter()
        write_trials(url, spec, trials)
        written = time.perf_counter() - started
        html = folder / f"{backend}.html"
        commands: dict[str, tuple[list[str], Callable[[], object]]] = {
            "studies list": (["studies", "list"], lambda: list_studies(url)),
            "studies show": (["studies", "show", name], lambda: show_study(name, storage=url)),
            "export": (["export", name, "--out", str(folder / f"{backend}.yaml")], lambda: export_study(name, storage=url)),
            "plot --no-gradient-flow": (
                ["plot", name, "--no-gradient-flow", "--out", str(html)],
                lambda: dashboards.write_html(dashboards.report_study(name, storage=url, gradient_flow=False), html),
            ),
        }
        for label, (argv, call) in commands.items():
            started = time.perf_counter()
            subprocess.run([*cli_command(), *argv, "--storage", url], check=True, stdout=subprocess.DEVNULL)
            command = time.perf_counter() - started
            started = time.perf_counter()
            call()
            library = time.perf_counter() - started
            worst = max(worst, command, library)
            rows.append(
                [
                    backend,
                    label,
                    f"{command:.2f}",
                    f"{library:.2f}",
                    "met" if max(command, library) < COMMAND_TARGET else "missed",
                ]
            )
        rows.append([backend, f"(writing the {count:,} trials)", "", f"{written:.1f}", ""])
    print_table(
        f"seconds, {count:,} trials",
        ["backend", "what", "command", "in process", f"< {COMMAND_TARGET:.0f} s"],
        rows,
        numeric_from=2,
    )
    met = worst < COMMAND_TARGET
    console.print(f"slowest: {worst:.2f} s (target < {COMMAND_TARGET:.0f} s each: {'met' if met else 'missed'}); {load_line()}")
    return met


# ---- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite, postgresql")
    parser.add_argument("--engines", default=",".join(ENGINES), help="optuna, ray")
    parser.add_argument("--trials", type=int, default=100, help="very short trials per overhead study")
    parser.add_argument("--throughput-trials", type=int, default=30, help="trials per throughput study")
    parser.add_argument("--throughput-epochs", type=int, default=5, help="digits epochs per throughput trial")
    parser.add_argument("--throughput-timeout", type=float, default=45.0, help="seconds after which no new trial starts")
    parser.add_argument("--stored", type=int, default=10_000, help="trials of the stored study")
    parser.add_argument("--sections", default="overhead,throughput,stored")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    engines = [e for e in args.engines.split(",") if e]
    sections = set(args.sections.split(","))
    unknown = (set(backends) - set(BACKENDS)) | (set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown backend or engine: {', '.join(sorted(unknown))}")

    console.print(f"service overhead: {', '.join(backends)} × {', '.join(engines)}; start: {load_line()}")
    verdicts = {}
    with tempfile.TemporaryDirectory(prefix="ms-bench-") as tmp, ExitStack() as stack:
        folder = Path(tmp)

        def storages(section: str) -> dict[str, str]:
            # One database per section: `studies list` then sees only that section's studies.
            return {
                backend: f"sqlite:///{folder / f'{section}.db'}"
                if backend == "sqlite"
                else stack.enter_context(postgres_database())
                for backend in backends
            }

        if "overhead" in sections:
            verdicts["overhead ≤ 5 % of a 10-s trial"] = overhead_section(storages("overhead"), engines, args.trials)
        if "throughput" in sections:
            verdicts["2 workers ≥ 1.7× 1 worker"] = throughput_section(
                storages("throughput"), engines, args.throughput_trials, args.throughput_epochs, args.throughput_timeout
            )
        if "stored" in sections:
            verdicts[f"{args.stored:,} trials: each command < 5 s"] = stored_section(storages("stored"), args.stored, folder)
    console.print("\n" + "; ".join(f"{target}: {'met' if met else 'missed'}" for target, met in verdicts.items()))
    console.print(f"end: {load_line()}")


if __name__ == "__main__":
    main()
