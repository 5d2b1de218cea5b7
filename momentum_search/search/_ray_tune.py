"""The Ray Tune side of the Ray engine: the trainable, the searcher, the recorder and PBT's explore step.

Imported only when a study runs on Ray (it imports ray), and by Ray's workers for the trainable.

A trial reports after every epoch of its first seed, and each report holds the trial as it would be
stored if it ended there, so a trial the scheduler stops needs nothing more from its worker:

- ``value``: that epoch's validation metric, what the scheduler compares (the worst possible value
  once the run diverged); ``train_time``: the mean time per seed so far; ``epoch``: from 1.
- ``step``: the epoch again, for the schedulers, but not in the final report, nor in the reports of a
  kind with nothing to search: no scheduler acts on a trial without it. A trial that has ended must
  not be acted on (PBT would make a finished member copy a better one), and a kind with nothing to
  search must run to the end, the reference every comparison needs.
- ``attrs``: :meth:`Evaluation.attrs` of the run so far (PBT adds ``schedule``); ``reason``: why it
  ended early if it ends here; ``diverged_epoch``: the epoch the first seed diverged at, or None.
- ``final``: True on the last report, sent after the other seeds have trained too.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import ray
import torch
from ray import tune
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, PopulationBasedTraining, TrialScheduler
from ray.tune.search import Searcher

from momentum_search.search._objective import Evaluation, TrialPlan, evaluate
from momentum_search.search._ray_books import Asked, Book, TuneRun
from momentum_search.search._schedulers import PBT_PARAMETERS
from momentum_search.search._space import CELL_PARAMETER, SearchSpace
from momentum_search.trainers import Trainer, TrainResult, loop_result

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

VALUE, TRAIN_TIME, EPOCH, STEP = "value", "train_time", "epoch", "step"
PARAMS = "params"  # a trial's Ray config is {PARAMS: cell and the searched parameters that cell uses}
REUSED = "reused"  # in the config when the trial copies a COMPLETE twin's result: nothing to train
_CHECKPOINT = "trial.pt"
_PERTURBATION_FACTORS = (0.8, 1.2)
_RESAMPLE_PROBABILITY = 0.25
# Ray's loggers that print trial errors, PBT's exploits and resume hints; the study records what matters.
_NOISY_LOGGERS = ("ray.tune", "ray.train")


def fit(
    engine: TuneRun,
    book: Book,
    *,
    samples: int,
    address: str | None,
    timeout: float | None,
    quiet: bool,
    results_dir: str | None,
) -> int:
    """Run ``samples`` trials on Ray, recording them through ``book``; returns the trials it runs at once.

    Ctrl-C ends Tune's run; the trials it leaves unfinished are still in the book.
    """
    if samples == 0:
        return 0
    deadline = None if timeout is None else time.monotonic() + timeout
    with _quiet(quiet), _connected(address, quiet=quiet):
        slots = _slots(engine)
        setup = TrialSetup(
            plan=engine.plan,
            unsearched=tuple(cell for cell in engine.space.cells if not engine.space.parameters(cell)),
            perturbed=PBT_PARAMETERS if engine.population else (),
        )
        trainable = tune.with_resources(
            tune.with_parameters(train_trial, setup=setup), {"cpu": engine.cpus_per_trial, "gpu": engine.gpus_per_trial}
        )
        mode = _mode(book.study.directions[0])
        search_alg: Searcher | None = None
        param_space: dict[str, Any] = {}
        if isinstance(book, Asked):
            search_alg = _StudySearch(engine, book, deadline=deadline)
        else:
            # Ray's own variant generator (PBT refuses any other) runs the population drawn here.
            draws = _Draws(engine.space, _seed(engine, book.study))
            param_space = {PARAMS: tune.grid_search([draws.params() for _ in range(samples)])}
        folder = results_dir or tempfile.mkdtemp(prefix="momentum-search-ray-")
        try:
            tuner = tune.Tuner(
                trainable,
                param_space=param_space,
                tune_config=tune.TuneConfig(
                    search_alg=search_alg,
                    scheduler=_scheduler(engine, book, mode),
                    num_samples=1 if search_alg is None else samples,  # a grid runs each point once
                    reuse_actors=True,  # one worker process trains trial after trial: no start-up each time
                ),
                run_config=tune.RunConfig(
                    name=book.study.study_name,
                    storage_path=folder,
                    verbose=0 if quiet else 1,
                    callbacks=[_Recorder(book)],
                    # PBT copies a member's last checkpoint at some later time: keep every one (the
                    # folder goes away at the end anyway).
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
                    failure_config=tune.FailureConfig(max_failures=0),
                ),
            )
            tuner.fit()
        finally:
            if results_dir is None:
                shutil.rmtree(folder, ignore_errors=True)
    return slots


@contextmanager
def _quiet(quiet: bool) -> Iterator[None]:
    # Tune's CSV/JSON/TensorBoard result files duplicate the study; the old output engine prints
    # nothing at verbose=0, the new one still draws a box.
    env = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", **({"RAY_AIR_NEW_OUTPUT": "0"} if quiet else {})}
    saved_env = {name: os.environ.get(name) for name in env}
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    saved_levels = [logger.level for logger in loggers]
    os.environ.update(env)
    if quiet:
        for logger in loggers:
            logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for logger, level in zip(loggers, saved_levels, strict=True):
            logger.setLevel(level)


@contextmanager
def _connected(address: str | None, *, quiet: bool) -> Iterator[None]:
    """Connect to the cluster at ``address``, or start a local runtime; reuse this process's connection."""
    if ray.is_initialized():
        if address is not None:
            raise ValueError(f"ray address {address}: this process is already connected to Ray (ray.shutdown() first)")
        yield
        return
    options: dict[str, Any] = {"log_to_driver": not quiet, "logging_level": logging.ERROR if quiet else logging.INFO}
    try:
        if address is None:
            # "local": a runtime of our own even if a cluster runs on this machine, as --help promises.
            ray.init(address="local", include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except ConnectionError as error:
        raise ValueError(f"cannot reach the Ray cluster at {address}: {str(error).splitlines()[0]}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _slots(engine: TuneRun) -> int:
    """How many trials the cluster runs at once; raises ValueError if not even one fits."""
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    if engine.cpus_per_trial > cpus:
        raise ValueError(f"cpus per trial: {engine.cpus_per_trial} exceeds the {cpus:g} CPUs of the Ray cluster")
    if engine.gpus_per_trial > gpus:
        raise ValueError(f"gpus per trial: {engine.gpus_per_trial:g} exceeds the {gpus:g} GPUs of the Ray cluster")
    slots = int(cpus // engine.cpus_per_trial)
    return min(slots, int(gpus // engine.gpus_per_trial)) if engine.gpus_per_trial else slots


def _mode(direction: optuna.study.StudyDirection) -> str:
    return "min" if direction == optuna.study.StudyDirection.MINIMIZE else "max"


def _seed(engine: TuneRun, study: optuna.Study) -> int | None:
    # A resumed study draws a population of its own, not the first launch's again.
    seed = engine.sampler.seed
    return None if seed is None else seed + len(study.get_trials(deepcopy=False))


def _scheduler(engine: TuneRun, book: Book, mode: str) -> TrialScheduler:
    spec, epochs = engine.scheduler, engine.plan.max_epochs
    if spec.name == "none":
        return FIFOScheduler()
    if spec.name == "pbt":
        return PopulationBasedTraining(
            time_attr=STEP,
            metric=VALUE,
            mode=mode,
            require_attrs=False,  # the final report has no step
            perturbation_interval=spec.interval(epochs),
            custom_explore_fn=_Explore(engine.space, _seed(engine, book.study)),
            log_config=False,
            # A population larger than the cluster's slots would otherwise train in turns, each member
            # alone; synchronous PBT pauses members at every interval so that all of them compete.
            synch=True,
        )
    grace = spec.grace_period or 1
    factor = spec.reduction_factor or (3 if spec.name == "hyperband" else 4)
    brackets = 1
    if spec.name == "hyperband":
        # As Optuna's HyperbandPruner: one bracket per grace period grace·factor^k that fits in the epochs.
        while grace * factor**brackets <= epochs:
            brackets += 1
    return AsyncHyperBandScheduler(
        time_attr=STEP,
        metric=VALUE,
        mode=mode,
        max_t=epochs,
        grace_period=grace,
        reduction_factor=factor,
        brackets=brackets,
    )


# ---- the driver: asking trials, recording what they report ------------------------------------


class _StudySearch(Searcher):
    """Ray Tune's searcher on the study itself: each suggestion claims a WAITING trial through the
    store, with the sampler the Optuna engine would use for it, and samples its parameters there.

    It writes nothing on results: the recorder does, because it also sees a trial's error and its
    full last report (the searcher sees neither).
    """

    def __init__(self, engine: TuneRun, book: Asked, *, deadline: float | None) -> None:
        directions = book.study.directions
        metric: Any = VALUE if len(directions) == 1 else [VALUE, TRAIN_TIME]
        mode: Any = _mode(directions[0]) if len(directions) == 1 else [_mode(d) for d in directions]
        super().__init__(metric=metric, mode=mode)
        self._engine = engine
        self._book = book
        self._deadline = deadline

    # Ray's annotation says dict | None, but its searchers end a run by returning Searcher.FINISHED, a str.
    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return Searcher.FINISHED  # the timeout: running trials finish, no new one starts
        build = self._engine.sampler.build
        trial = self._book.storage.claim_trial(self._book.study, sampler=lambda number: build(trial_number=number))
        if trial is None:
            return Searcher.FINISHED  # another process took the last queued trial: the budget is spent
        params = self._engine.space.suggest(trial)
        if self._book.asked(trial_id, trial, params):
            return {PARAMS: params, REUSED: True}
        return {PARAMS: params}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        pass  # the recorder ends the trial in the study

    def save(self, checkpoint_path: str) -> None:
        pass  # the study is the state; Ray's experiment snapshot is never restored

    def restore(self, checkpoint_path: str) -> None:
        pass


class _Recorder(tune.Callback):
    """Feeds what Ray's trials report into the study through the book."""

    def __init__(self, book: Book) -> None:
        self._book = book

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._book.started(trial.trial_id, trial.config[PARAMS])

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any) -> None:
        # A reused trial reports no epoch; the epoch that diverged has no value (see _Outcome).
        if EPOCH in result and result["diverged_epoch"] is None:
            self._book.reported(trial.trial_id, trial.config[PARAMS], result[EPOCH], result[VALUE])

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._book.finish(trial.trial_id, trial.config[PARAMS], trial.last_result)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._book.fail(trial.trial_id, trial.config[PARAMS], _error_message(trial))


def _error_message(trial: Trial) -> str:
    """The trial's exception as one line, e.g. ``ValueError('...')``."""
    path = trial.pickled_error_file
    if path is not None and os.path.exists(path):
        with open(path, "rb") as file:
            error = ray.cloudpickle.load(file)
        # A task error wraps the trainable's own exception; an actor error (a lost worker) has no cause.
        cause = getattr(error, "cause", None) or error
        return repr(cause).splitlines()[0]
    # Not picklable: Tune wrote it as text only, the last line naming the exception.
    path = trial.error_file
    lines = Path(path).read_text().strip().splitlines() if path is not None and os.path.exists(path) else []
    return lines[-1] if lines else "its Ray worker failed without an error"


# ---- PBT: the initial population and the explore step -----------------------------------------


class _Draws:
    """Random parameters from the space, drawn by Optuna's RandomSampler as the random sampler would."""

    def __init__(self, space: SearchSpace, seed: int | None) -> None:
        self._space = space
        self._sampler = optuna.samplers.RandomSampler(seed=seed)

    def params(self) -> dict[str, Any]:
        """``cell`` and the searched parameters that cell uses."""
        return self._space.suggest(self._ask())

    def value(self, name: str) -> Any:
        """A fresh value of parameter ``name``."""
        return self._ask({name: self._space.distributions()[name]}).params[name]

    def _ask(self, distributions: dict[str, Any] | None = None) -> optuna.Trial:
        # A throwaway study per draw; the sampler's generator carries on across them.
        return optuna.create_study(sampler=self._sampler).ask(distributions)


class _Explore:
    """PBT's explore step over μ and s, for the cell kinds that search them: ×0.8 or ×1.2 (a
    neighbouring point for explicit points), or a fresh draw with probability 1/4; always a value
    the space allows, so the member's trial fits the study's distributions."""

    def __init__(self, space: SearchSpace, seed: int | None) -> None:
        self._distributions = space.distributions()
        self._draws = _Draws(space, None if seed is None else seed + 1)
        self._random = random.Random(seed)

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        params = config[PARAMS]
        for name in PBT_PARAMETERS:
            if name in params:  # only what the member's cell searches
                params[name] = self._perturb(name, params[name])
        return config

    def _perturb(self, name: str, value: float) -> float:
        distribution = self._distributions[name]
        if self._random.random() < _RESAMPLE_PROBABILITY:
            return self._draws.value(name)
        if isinstance(distribution, optuna.distributions.CategoricalDistribution):
            points = sorted(distribution.choices)  # type: ignore[type-var]
            index = points.index(value) + self._random.choice((-1, 1))
            return points[min(max(index, 0), len(points) - 1)]  # type: ignore[return-value]
        assert isinstance(distribution, optuna.distributions.FloatDistribution)  # mu and s are floats
        low, high, step = distribution.low, distribution.high, distribution.step
        value = min(max(value * self._random.choice(_PERTURBATION_FACTORS), low), high)
        return value if step is None else low + round((value - low) / step) * step


# ---- the worker: one trial ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrialSetup:
    """What every trial of a run shares: the plan, the cells with nothing to search, and what PBT
    may change between epochs."""

    plan: TrialPlan
    unsearched: tuple[str, ...] = ()  # the kinds with nothing to search: they run to the end
    perturbed: tuple[str, ...] = ()  # checkpoints after every epoch when not empty


def train_trial(config: dict[str, Any], *, setup: TrialSetup) -> None:
    """Ray Tune's function trainable: train the trial's first seed epoch by epoch, then the others.

    ``config[PARAMS]`` is ``cell`` and the searched parameters that cell uses (``config[REUSED]``:
    nothing to train). With PBT the trial resumes from the checkpoint Ray hands over (its own after
    a pause, a better member's after an exploit), and the μ, s in ``config`` apply from the next
    epoch on.
    """
    if config.get(REUSED):
        # The driver copies the twin's result; Tune wants its metrics in every trial's report.
        tune.report({VALUE: math.nan, TRAIN_TIME: math.nan})
        return
    plan = setup.plan
    params = dict(config[PARAMS])
    if (objective := plan.objective) is not None:
        # The user's loop: its first seed's report(epoch, value) reaches Tune as the trainer's epochs do,
        # so the scheduler can stop it there; an ObjectiveError fails the trial with its message.
        first_seed, started, history = plan.config(params, seed=plan.seeds[0]).resolved(), time.perf_counter(), []

        def on_epoch(epoch: int, value: float) -> bool:
            history.append(value)
            if epoch >= plan.max_epochs:  # the last epoch's report is the final one (at max_t ASHA stops a trial)
                return False
            so_far = Evaluation((loop_result(first_seed, history, wall_time=time.perf_counter() - started),), plan.seeds)
            tune.report(
                _metrics(
                    so_far,
                    so_far.attrs(),
                    setup,
                    direction=objective.direction,
                    epoch=epoch,
                    cell=params[CELL_PARAMETER],
                    last=value,
                    diverged=not math.isfinite(value),
                    final=False,
                )
            )
            return False

        evaluation = evaluate(plan, params, on_epoch=on_epoch)
        first = evaluation.results[0]
        tune.report(
            _metrics(
                evaluation,
                evaluation.attrs(),
                setup,
                direction=objective.direction,
                epoch=first.epochs_run,
                cell=params[CELL_PARAMETER],
                last=first.history[-1],
                diverged=evaluation.diverged,
                final=True,
            )
        )
        return
    trainer = Trainer(plan.config(params, seed=plan.seeds[0]))
    schedule: dict[str, list[float]] = {name: [] for name in setup.perturbed if name in params}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / _CHECKPOINT, weights_only=True)
        trainer.load_state_dict(state["trainer"])
        schedule = state["schedule"]
    snapshot: TrainResult | None = None
    while True:
        if not trainer.done:
            if schedule:
                trainer.set_hyperparameters(**{name: params[name] for name in schedule})
                for name, values in schedule.items():
                    values.append(getattr(trainer.config, name))
            trainer.run_epoch()
        snapshot = _snapshot(trainer, snapshot)
        if trainer.done:
            break
        _report(Evaluation((snapshot,), plan.seeds), trainer, schedule, setup, final=False)
    first = dataclasses.replace(snapshot, stopped=False)
    results: tuple[TrainResult, ...] = (first,)
    if len(plan.seeds) > 1 and not first.diverged:
        results += evaluate(plan.model_copy(update={"seeds": plan.seeds[1:]}), params).results
    _report(Evaluation(results, plan.seeds), trainer, schedule, setup, final=True)


def _metrics(
    evaluation: Evaluation,
    attrs: dict[str, Any],
    setup: TrialSetup,
    *,
    direction: str,
    epoch: int,
    cell: str,
    last: float,
    diverged: bool,
    final: bool,
) -> dict[str, Any]:
    """What a trial reports to Tune after an epoch (``final``: after its last seed), attrs included."""
    worst = math.inf if direction == "minimize" else -math.inf
    return {
        VALUE: worst if diverged else last,
        TRAIN_TIME: evaluation.train_time,
        EPOCH: epoch,
        **({} if final or cell in setup.unsearched else {STEP: epoch}),
        "attrs": attrs,
        "reason": evaluation.reason(),
        "diverged_epoch": epoch if diverged else None,
        "final": final,
    }


def _snapshot(trainer: Trainer, previous: TrainResult | None) -> TrainResult:
    """``trainer.result(stopped=True)``, which runs a test pass: skipped while the best epoch, and
    so the test metric at it, stays the same as in ``previous``."""
    if previous is None or previous.best_epoch != trainer.best_epoch:
        return trainer.result(stopped=True)
    return dataclasses.replace(
        previous,
        epochs_run=len(trainer.history),
        wall_time=trainer.wall_time,
        diverged=trainer.diverged,
        history=tuple(trainer.history),
        config=trainer.config,
    )


def _report(
    evaluation: Evaluation, trainer: Trainer, schedule: Mapping[str, list[float]], setup: TrialSetup, *, final: bool
) -> None:
    attrs = evaluation.attrs()
    if setup.perturbed:
        attrs["schedule"] = {name: list(values) for name, values in schedule.items()}
    metrics = _metrics(
        evaluation,
        attrs,
        setup,
        direction=trainer.task.metric.direction,
        epoch=trainer.epoch,
        cell=trainer.config.cell,
        last=trainer.history[-1] if trainer.history else math.nan,
        diverged=trainer.diverged,
        final=final,
    )
    if not setup.perturbed:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        torch.save({"trainer": trainer.state_dict(), "schedule": dict(schedule)}, Path(folder) / _CHECKPOINT)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
