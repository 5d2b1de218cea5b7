"""The Optuna engine: a study's budget as a queue of WAITING trials that workers claim one at a time.

Why not ``Study.optimize``: with several workers its ``MaxTrialsCallback`` can overshoot, and
``Study.ask`` creates a new trial whenever the queue looks empty. Here the budget is exact:

- :meth:`OptunaEngine.top_up` enqueues ``budget - finished - waiting - running`` WAITING trials,
  where finished means COMPLETE or PRUNED (a FAIL never counts: a crashed trial is replaced).
- A worker only ever runs WAITING trials, claimed atomically by the store
  (``TrialStore.claim_trial`` in ``store/_claims.py``), and ends each in one transaction there
  (``TrialStore.finish_trial``): attrs, intermediate values and state together, or nothing.
- A trial whose worker died (heartbeat older than the grace period) is failed and re-enqueued as a
  WAITING copy with the same parameters (``RetryHeartbeatStaleTrialCallback``), and so is a trial
  interrupted by Ctrl-C: the number of WAITING + RUNNING + finished trials never changes, so the
  study ends with exactly ``budget`` finished trials.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from momentum_search.search._engine import WORKER, TrialHeartbeat, complete_twin, dropped, finish
from momentum_search.search._objective import Evaluation, TrialPlan, evaluate
from momentum_search.search._racing import RacingSpec
from momentum_search.search._record import REASON_ATTR, REUSED_FROM_ATTR, TRIAL_SEEDS_ATTR, finished_attrs, twin_attrs
from momentum_search.search._samplers import PrunerSpec, SamplerSpec
from momentum_search.search._space import CELL_PARAMETER, SearchSpace
from momentum_search.store import fail_stale_trials
from momentum_search.trainers import ObjectiveError

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from momentum_search.store import TrialStore

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialCounts:
    """A study's trials by what they mean for the budget."""

    finished: int  # COMPLETE + PRUNED: what the budget counts
    complete: int
    pruned: int
    failed: int  # FAIL, including those re-enqueued as a copy
    waiting: int
    running: int
    twins: int = 0  # of the COMPLETE, those that reused an earlier trial's result: nothing trained

    @property
    def pending(self) -> int:
        return self.waiting + self.running


def count_trials(trials: Iterable[FrozenTrial]) -> TrialCounts:
    from optuna.trial import TrialState

    trials = list(trials)
    states = [trial.state for trial in trials]
    complete, pruned = states.count(TrialState.COMPLETE), states.count(TrialState.PRUNED)
    return TrialCounts(
        finished=complete + pruned,
        complete=complete,
        pruned=pruned,
        failed=states.count(TrialState.FAIL),
        waiting=states.count(TrialState.WAITING),
        running=states.count(TrialState.RUNNING),
        twins=sum(trial.state == TrialState.COMPLETE and REUSED_FROM_ATTR in trial.user_attrs for trial in trials),
    )


class OptunaEngine:
    """Runs the trials of one study on Optuna.

    Args:
        space: the conditional search space (cell kind first).
        plan: what each trial trains apart from its sampled parameters.
        sampler: the sampler spec, its name resolved.
        pruner: the pruner spec, its name resolved.
        racing: race the plan's seeds against the incumbent (one objective only), or None to train
            every configuration on every seed.
    """

    def __init__(
        self,
        *,
        space: SearchSpace,
        plan: TrialPlan,
        sampler: SamplerSpec,
        pruner: PrunerSpec,
        racing: RacingSpec | None = None,
    ) -> None:
        if sampler.name is None or pruner.name is None:
            raise ValueError("sampler and pruner names must be resolved (call .resolved()) before building an engine")
        self.space = space
        self.plan = plan
        self.sampler = sampler
        self.pruner = pruner
        self.racing = racing

    # ---- the queue ----------------------------------------------------------------------------

    def top_up(self, study: optuna.Study, budget: int) -> int:
        """Enqueue WAITING trials until finished + waiting + running reaches ``budget``; returns how many.

        A kind with nothing to search (a plain cell, or one whose hyperparameters the spec fixes) is queued
        first, once: it is the reference every comparison needs. With the sampler's ``kinds="shared"`` (the
        default) the other trials are shared evenly among the kinds that have something to search, each
        queued with its kind fixed and the sampler choosing the rest. Left to choose the kind
        (``kinds="sampled"``), TPE kept choosing a plain cell once it led the study, and each choice was a
        twin that trained nothing (9 of the quick start's 16 trials), starving the kinds the study compares.

        With the grid sampler the enqueued trials are grid points, each with all its parameters fixed,
        that no finished or pending trial holds yet, so the study visits every point exactly once.
        """
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        counts = count_trials(trials)
        missing = budget - counts.finished - counts.pending
        if missing <= 0:
            return 0
        live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING, TrialState.RUNNING)
        if self.sampler.name != "grid":
            queued = Counter(trial_params(trial).get(CELL_PARAMETER) for trial in trials if trial.state in live)
            unsearched = [c for c in self.space.cells if not self.space.parameters(c) and not queued[c]]
            searched = (
                [cell for cell in self.space.cells if self.space.parameters(cell)] if self.sampler.kinds == "shared" else []
            )
            for _ in range(missing):
                if unsearched:
                    cell: str | None = unsearched.pop(0)
                elif searched:
                    cell = min(searched, key=lambda c: queued[c])  # the fewest so far; the spec's order on a tie
                else:
                    cell = None  # the sampler chooses the kind (kinds: sampled, or only plain cells)
                study.enqueue_trial({} if cell is None else {CELL_PARAMETER: cell})
                queued[cell] += 1
            return missing
        taken = {point_key(trial_params(trial)) for trial in trials if trial.state in live}
        points = [point for point in self.space.grid() if point_key(point) not in taken][:missing]
        for point in points:
            study.enqueue_trial(point)
        return len(points)

    # ---- a worker -----------------------------------------------------------------------------

    def run(
        self,
        storage: TrialStore,
        study_name: str,
        *,
        deadline: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        poll_interval: float = 1.0,
    ) -> int:
        """Claim and run WAITING trials until none are left, or ``deadline`` (``time.monotonic()``)
        passes, or ``should_stop()`` is true; returns the number of trials this worker finished (a
        result dropped because the trial was failed as stale meanwhile does not count).

        While other workers' trials are still running it keeps polling, because a trial whose worker
        died comes back as a WAITING copy once its heartbeat is stale. Ctrl-C (or ``should_stop``)
        fails the current trial with reason ``interrupted`` and re-enqueues it, then re-raises
        KeyboardInterrupt.
        """
        import optuna

        # One study for the worker's life: its storage cache keeps the finished trials it has read, so
        # a claim reads only what is new or unfinished and costs the same at any study size (a study
        # loaded per claim read the whole study again each time).
        study = optuna.load_study(
            study_name=study_name, storage=storage, pruner=self.pruner.build(max_epochs=self.plan.max_epochs)
        )
        ran = 0
        while not should_stop() and (deadline is None or time.monotonic() < deadline):
            fail_stale_trials(study)
            trial = storage.claim_trial(study, sampler=lambda number: self.sampler.build(trial_number=number))
            if trial is not None:
                ran += self._run_trial(study, storage, trial, should_stop)
                continue
            # One read for both: a reaper (another worker, or the storage proxy) may fail a trial and
            # queue its copy between this loop's claim and this check.
            if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)):
                break
            _sleep(poll_interval, should_stop)
        return ran

    def _run_trial(self, study: optuna.Study, storage: TrialStore, trial: optuna.Trial, should_stop: Callable[[], bool]) -> bool:
        """Run one claimed trial; False if its result was dropped (see :func:`finish`)."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        single = len(study.directions) == 1
        unsearched = False  # a kind with nothing to search; set once the cell is sampled

        def on_epoch(epoch: int, value: float) -> bool:
            if not single:
                return False  # Optuna cannot report or prune multi-objective trials
            trial.report(value, step=epoch)
            # A kind with nothing to search runs to the end: stopped early, it would leave no reference to compare with.
            return not unsearched and trial.should_prune()

        def on_batch(index: int, total: int) -> None:
            if should_stop():
                raise KeyboardInterrupt

        def on_seed(values: dict[int, float]) -> str | None:
            # A kind with nothing to search earns every seed, as it runs every epoch: it is the reference of every comparison.
            racing = self.racing
            incumbent = None if racing is None or unsearched else _incumbent(study)
            if racing is None or incumbent is None:
                return None
            number, seed_values = incumbent
            return racing.loses(values, seed_values, direction=study.direction.name.lower(), against=f"trial {number}")

        seeds = trial.user_attrs.get(TRIAL_SEEDS_ATTR)
        plan = self.plan if seeds is None else self.plan.model_copy(update={"seeds": tuple(seeds)})
        with TrialHeartbeat(storage, storage.trial_id(study, trial)):
            try:
                params = self.space.suggest(trial)
                unsearched = not self.space.parameters(params[CELL_PARAMETER])
                twin = complete_twin(study, trial.number, params, seeds=seeds)
                if twin is not None:
                    # Same parameters, same plan, same seeds: training again would give the same numbers.
                    return finish(
                        storage,
                        study,
                        trial,
                        TrialState.COMPLETE,
                        twin_attrs(twin, worker=WORKER),
                        values=list(twin.values),
                        curve=twin.intermediate_values,
                    )
                evaluation = evaluate(plan, params, on_epoch=on_epoch, on_batch=on_batch, on_seed=on_seed)
            except KeyboardInterrupt:
                finish(storage, study, trial, TrialState.FAIL, {REASON_ATTR: "interrupted"}, requeue=True)
                raise
            except UpdateFinishedTrialError:
                dropped(trial)  # raised by trial.report() after an epoch
                return False
            except ObjectiveError as error:
                # The user's own loop failed this configuration: the trial fails with why, the study goes on.
                return finish(storage, study, trial, TrialState.FAIL, {REASON_ATTR: f"error: {error}"})
            except Exception as error:
                finish(storage, study, trial, TrialState.FAIL, {REASON_ATTR: f"error: {error!r}"})
                raise
            attrs = finished_attrs(evaluation.attrs(), reason=evaluation.reason(), worker=WORKER)
            if attrs[REASON_ATTR] is None:
                values = _values(evaluation, len(study.directions))
                return finish(storage, study, trial, TrialState.COMPLETE, attrs, values=values)
            if single and evaluation.results[0].diverged:
                # NaN at the epoch that diverged: TPE ranks the trial worst among those stopped there,
                # and MedianPruner ignores it; a FAIL would hide the region from the sampler.
                return finish(storage, study, trial, TrialState.PRUNED, attrs, nan_step=evaluation.results[0].epochs_run + 1)
            return finish(storage, study, trial, TrialState.PRUNED, attrs)


def _values(evaluation: Evaluation, objectives: int) -> list[float]:
    return [evaluation.value, evaluation.train_time][:objectives]


def _incumbent(study: optuna.Study) -> tuple[int, dict[int, float]] | None:
    """The best COMPLETE trial's number and its values by seed, or None before the first."""
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    pick = max if study.direction == StudyDirection.MAXIMIZE else min
    best = pick(complete, key=lambda trial: trial.values[0])
    pairs = zip(best.user_attrs.get("seeds", ()), best.user_attrs.get("seed_values", ()), strict=False)
    return best.number, {seed: value for seed, value in pairs if value is not None}


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    # An enqueued trial holds its parameters as fixed_params until it runs; a retried copy in params.
    return trial.params or trial.system_attrs.get("fixed_params", {})


def point_key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not should_stop():
        time.sleep(min(0.1, seconds))
