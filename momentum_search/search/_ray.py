"""The Ray Tune engine: the same study, its trials run by Ray Tune on a local runtime or a cluster.

Everything a trial records is what the Optuna engine records (:meth:`Evaluation.attrs`, the first
seed's validation metric per epoch as intermediate values, ``reason`` for pruned and failed trials),
written by this process (the Ray driver) into the study's SQL storage; Ray's workers never touch it.

- ``asha``, ``hyperband``, ``none``: our Ray ``Searcher`` claims, through the store, the WAITING
  trials :meth:`OptunaEngine.top_up` enqueued and samples each with the study's own sampler, as an
  Optuna worker does, so the budget is exact,
  grid points are visited once and baselines (cells with nothing to search) come first. A trial the
  scheduler stops early is stored as PRUNED; a baseline is never stopped; a trial with the same
  parameters as a COMPLETE one copies its result (user attr ``reused_from``), as on Optuna.
- ``pbt``: Ray refuses a search algorithm next to population-based training, so the initial
  population is drawn at random from the space here and handed to Ray as fixed points. A member's
  μ, s (and, after it copies a better member, its weights and other parameters) change while it
  trains, so its trial is added to the study when it ends, with the parameters it ended with and
  the per-epoch μ, s it followed as user attr ``schedule``.

Ray itself is imported only by :meth:`RayEngine.run` (see ``_ray_tune.py``).
"""

from __future__ import annotations

import contextlib
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from momentum_search.search._objective import TrialPlan
from momentum_search.search._optuna import (
    _WORKER,
    REASON_ATTR,
    OptunaEngine,
    _complete_twin,
    _finish,
    _Heartbeat,
    count_trials,
)
from momentum_search.search._record import ENGINE_ATTR, finished_attrs, twin_attrs
from momentum_search.search._recovery import OWNER_ATTR
from momentum_search.search._samplers import PrunerSpec, SamplerSpec, check_options
from momentum_search.search._space import CELL_PARAMETER, SearchSpace

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from momentum_search.studies._storage import TrialStore

SchedulerName = Literal["asha", "hyperband", "pbt", "none"]
# What population-based training perturbs; the other parameters only change when a member copies another.
PBT_PARAMETERS = ("mu", "s")


class SchedulerSpec(BaseModel):
    """How Ray Tune stops or perturbs running trials (``--engine ray``; on Optuna the pruner does this).

    - ``asha`` (the default for one objective): asynchronous successive halving; at epochs
      ``grace_period · reduction_factor^k`` a trial continues only if it is in the top
      ``1/reduction_factor`` of the trials that got there (defaults 1 and 4).
    - ``hyperband``: ASHA over several brackets of grace periods, asynchronous HyperBand as Optuna's
      HyperbandPruner runs it (defaults 1 and 3).
    - ``pbt``: population-based training; the budget's trials are the population. Every
      ``perturbation_interval`` epochs (default a quarter of the epochs) the members wait for each
      other, then each one in the bottom quarter copies the weights and configuration of one in the
      top quarter and multiplies μ and s by 0.8 or 1.2, or redraws them (probability 1/4), within
      the searched range. Needs μ or s in the space, one seed, the random sampler (which draws the
      initial population) and no timeout.
    - ``none``: every trial runs to its last epoch (the default for two objectives).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SchedulerName | None = None
    grace_period: int | None = Field(default=None, ge=1)
    reduction_factor: int | None = Field(default=None, ge=2)
    perturbation_interval: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _options_fit_scheduler(self) -> SchedulerSpec:
        check_options(self, "scheduler", {
            "asha": {"grace_period", "reduction_factor"},
            "hyperband": {"grace_period", "reduction_factor"},
            "pbt": {"perturbation_interval"},
        })  # fmt: skip
        return self

    def resolved(self, *, objectives: int) -> SchedulerSpec:
        """A copy with the name filled in.

        Raises:
            ValueError: a scheduler other than ``none`` with two objectives.
        """
        if objectives > 1 and self.name not in (None, "none"):
            raise ValueError(f"scheduler.name: {self.name} ranks trials by one metric; with two objectives use none")
        return self.model_copy(update={"name": self.name or ("asha" if objectives == 1 else "none")})

    def check(
        self, *, space: SearchSpace, sampler: SamplerSpec, seeds: tuple[int, ...], epochs: int,
        timeout: float | None = None,
    ) -> None:  # fmt: skip
        """Raise ValueError unless the scheduler can run this study (``name`` must be resolved)."""
        if self.grace_period is not None and self.grace_period > epochs:
            raise ValueError(f"scheduler.grace_period: {self.grace_period} exceeds the {epochs} epochs of a trial")
        if self.name != "pbt":
            return
        if not any(name in space.dimensions for name in PBT_PARAMETERS):
            raise ValueError("scheduler.name: pbt perturbs mu and s; search at least one of them (space.mu, space.s)")
        if len(seeds) != 1:
            raise ValueError(f"scheduler.name: pbt trains one seed per population member; got seeds {list(seeds)}")
        if sampler.name != "random":
            raise ValueError(
                f"scheduler.name: pbt draws its initial population at random; set sampler.name to random, "
                f"not {sampler.name}"
            )
        if timeout is not None:
            raise ValueError("budget.timeout: does not apply to scheduler pbt, whose population trains together")

    def interval(self, epochs: int) -> int:
        """PBT's perturbation interval in epochs."""
        return self.perturbation_interval or max(1, epochs // 4)


@dataclass(frozen=True)
class LiveTrial:
    """A trial Ray is running now: its study trial number (None for a PBT member, added when it
    ends), parameters (cell included), and the first seed's last epoch and validation metric."""

    number: int | None
    params: dict[str, Any]
    epoch: int | None = None
    value: float | None = None


@dataclass(frozen=True)
class RayRun:
    """What one :meth:`RayEngine.run` did: trials it stored as finished (COMPLETE or PRUNED), one
    line per failed trial, whether it was interrupted, and how many trials the cluster runs at once."""

    finished: int
    errors: list[str]
    interrupted: bool
    slots: int


class RayEngine:
    """Runs the trials of one study on Ray Tune.

    Args:
        space: the conditional search space (cell kind first).
        plan: what each trial trains apart from its sampled parameters (its ``threads`` become
            ``cpus_per_trial``).
        sampler: the sampler spec, its name resolved.
        scheduler: the scheduler spec, its name resolved.
        cpus_per_trial: CPUs Ray reserves for each trial.
        gpus_per_trial: GPUs Ray reserves for each trial (fractions share one); the spec's
            ``fixed.device`` decides where the trial trains.

    Raises:
        ValueError: a scheduler that cannot run this study (see :meth:`SchedulerSpec.check`), or
            bad resources.
    """

    def __init__(
        self,
        *,
        space: SearchSpace,
        plan: TrialPlan,
        sampler: SamplerSpec,
        scheduler: SchedulerSpec,
        cpus_per_trial: int = 1,
        gpus_per_trial: float = 0.0,
    ) -> None:
        if sampler.name is None or scheduler.name is None:
            raise ValueError("sampler and scheduler names must be resolved (.resolved()) before building an engine")
        if cpus_per_trial < 1:
            raise ValueError(f"cpus_per_trial must be ≥ 1, got {cpus_per_trial}")
        if not (gpus_per_trial >= 0 and math.isfinite(gpus_per_trial)):
            raise ValueError(f"gpus_per_trial must be ≥ 0, got {gpus_per_trial}")
        scheduler.check(space=space, sampler=sampler, seeds=plan.seeds, epochs=plan.max_epochs)
        self.space = space
        self.plan = plan.model_copy(update={"threads": cpus_per_trial})
        self.sampler = sampler
        self.scheduler = scheduler
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self._book: _Book | None = None

    @property
    def population(self) -> bool:
        """Whether trials are PBT members, added to the study when they end rather than asked from it."""
        return self.scheduler.name == "pbt"

    def top_up(self, study: optuna.Study, budget: int) -> int:
        """Enqueue WAITING trials as the Optuna engine does (PBT enqueues nothing); returns how many."""
        if self.population:
            return 0
        queue = OptunaEngine(space=self.space, plan=self.plan, sampler=self.sampler, pruner=PrunerSpec(name="none"))
        return queue.top_up(study, budget)

    def run(
        self,
        storage: TrialStore,
        study_name: str,
        *,
        budget: int,
        address: str | None = None,
        timeout: float | None = None,
        quiet: bool = True,
        results_dir: str | None = None,
    ) -> RayRun:
        """Run the study's trials on Ray until its WAITING trials are done (PBT: until ``budget``
        members finished), or ``timeout`` seconds passed (running trials finish, no new one starts).

        Args:
            budget: the study's total; PBT starts ``budget - finished - pending`` members.
            address: a running cluster (``ray start --head`` prints it, e.g. ``127.0.0.1:6379``);
                None starts a local runtime, unless this process is already connected to Ray. A
                cluster with token authentication needs ``RAY_AUTH_MODE=token`` and its token
                (``~/.ray/auth_token`` or ``RAY_AUTH_TOKEN``) in this process's environment.
            quiet: keep Ray's own logs and tables out of the terminal.
            results_dir: where Ray keeps its experiment files and PBT checkpoints; default a
                temporary folder, removed at the end. A cluster of several machines needs a folder
                they share for PBT.

        Ctrl-C ends the run: asked trials still running are failed with reason ``interrupted`` and
        enqueued again, as with the Optuna engine, and ``interrupted`` is True.

        Raises:
            ValueError: a timeout with PBT, an unreachable cluster or one without the resources a
                trial needs, or an address while this process is already connected to Ray.
        """
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.scheduler.check(
            space=self.space, sampler=self.sampler, seeds=self.plan.seeds, epochs=self.plan.max_epochs, timeout=timeout
        )
        import optuna

        from momentum_search.search import _ray_tune

        study = optuna.load_study(study_name=study_name, storage=storage)
        objectives = len(study.directions)
        if self.population:
            counts = count_trials(study.get_trials(deepcopy=False))
            samples = max(0, budget - counts.finished - counts.pending)
            book: _Book = _Population(study, objectives, self.space)
        else:
            samples = count_trials(study.get_trials(deepcopy=False)).waiting
            book = _Asked(study, storage, objectives)
        self._book = book
        slots, interrupted = 0, False
        try:
            slots = _ray_tune.fit(
                self, book, samples=samples, address=address, timeout=timeout, quiet=quiet, results_dir=results_dir
            )
        except KeyboardInterrupt:  # a second Ctrl-C; Tune ends its run quietly on the first
            interrupted = True
        finally:
            interrupted |= book.close()
            self._book = None
        return RayRun(finished=book.finished, errors=book.errors, interrupted=interrupted, slots=slots)

    def live(self) -> list[LiveTrial]:
        """The trials running now (safe to call from another thread while :meth:`run` runs)."""
        book = self._book
        return [] if book is None else book.live()


def check_address(address: str, *, timeout: float = 5.0) -> None:
    """Raise ValueError unless a Ray head listens at ``address`` (``host:port``).

    ``ray.init`` on an address nobody listens at retries for minutes and logs every attempt; a plain
    connection says it at once, before the launch writes anything.
    """
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"ray address {address!r}: expected host:port, e.g. 127.0.0.1:6379")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ValueError(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from None


def searched(space: SearchSpace, values: Mapping[str, Any]) -> dict[str, Any]:
    """``cell`` and the searched parameters that cell uses, taken from ``values`` (a trainer config or Ray config)."""
    cell = values[CELL_PARAMETER]
    return {CELL_PARAMETER: cell, **{name: values[name] for name in space.parameters(cell)}}


# ---- the driver's books: what Ray runs, and what goes into the study -------------------------------


@dataclass(frozen=True)
class _Outcome:
    """How a trial ends in the study, from its last report (see ``_ray_tune.py`` for the keys)."""

    state: str  # an optuna TrialState name
    values: list[float] | None
    attrs: dict[str, Any]
    nan_step: int | None

    @classmethod
    def of(cls, result: Mapping[str, Any], objectives: int) -> _Outcome:
        attrs = finished_attrs(result["attrs"], reason=result["reason"], engine="ray",
                               worker=f"{result.get('hostname')}:{result.get('pid')}")  # fmt: skip
        if result["final"] and result["reason"] is None:
            values = [attrs["value_mean"], attrs["train_time"]][:objectives]
            return cls("COMPLETE", values, attrs, None)
        # Stopped by the scheduler (a report before the last epoch), or diverged. As on Optuna, NaN at
        # the epoch that diverged ranks the trial worst among those stopped there.
        nan_step = result["diverged_epoch"] if objectives == 1 else None
        return cls("PRUNED", None, attrs, nan_step)


class _Book(ABC):
    """Bookkeeping shared by the searcher and the recorder in the driver; Ray trial ids as keys."""

    def __init__(self, study: optuna.Study, objectives: int) -> None:
        self.study = study
        self.objectives = objectives
        self.finished = 0  # trials stored COMPLETE or PRUNED
        self.errors: list[str] = []
        self._live: dict[str, LiveTrial] = {}
        self._lock = threading.Lock()  # the progress view reads from another thread

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its search algorithm and callbacks into an experiment snapshot, which we never
        # restore from (the study in the SQL storage is the state): leave the live objects out.
        return {}

    def live(self) -> list[LiveTrial]:
        with self._lock:
            return list(self._live.values())

    def started(self, ray_id: str, config: Mapping[str, Any]) -> None:
        with self._lock:
            self._live.setdefault(ray_id, LiveTrial(self.number(ray_id), dict(config)))

    def reported(self, ray_id: str, config: Mapping[str, Any], epoch: int, value: float) -> None:
        with self._lock:
            # PBT changes a member's configuration while it runs; show the current one.
            self._live[ray_id] = LiveTrial(self.number(ray_id), dict(config), epoch, value)

    def ended(self, ray_id: str) -> None:
        with self._lock:
            self._live.pop(ray_id, None)

    def number(self, ray_id: str) -> int | None:
        return None

    @abstractmethod
    def finish(self, ray_id: str, config: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """Store the trial as its last report says (``config``: its parameters, cell included)."""

    @abstractmethod
    def fail(self, ray_id: str, config: Mapping[str, Any], message: str) -> None:
        """Store the trial as failed with ``message``, its error."""

    def close(self) -> bool:
        """Settle what Ray left unfinished; returns whether anything was."""
        with self._lock:
            return bool(self._live)


class _Asked(_Book):
    """Trials claimed from the study's queue by the searcher: RUNNING there from the claim, with a
    heartbeat, their curve reported live, ended through the store exactly as the Optuna engine ends
    its own."""

    def __init__(self, study: optuna.Study, storage: TrialStore, objectives: int) -> None:
        super().__init__(study, objectives)
        self.storage = storage
        self._trials: dict[str, optuna.Trial] = {}
        self._heartbeats: dict[str, contextlib.ExitStack] = {}
        self._twins: dict[str, FrozenTrial] = {}

    def asked(self, ray_id: str, trial: optuna.Trial, params: dict[str, Any]) -> bool:
        """Take the claimed ``trial`` with its ``params``; returns whether a COMPLETE trial has the
        same ones, whose result it copies when it ends (its Ray trial then need not train)."""
        trial_id = self.storage.trial_id(self.study, trial)
        # Who to ask whether the trial still runs once this driver is gone (see _recovery.py).
        self.storage.set_trial_system_attr(trial_id, OWNER_ATTR, _WORKER)
        heartbeat = contextlib.ExitStack()
        heartbeat.enter_context(_Heartbeat(self.storage, trial_id))
        twin = _complete_twin(self.study, trial.number, params)
        with self._lock:
            self._trials[ray_id] = trial
            self._heartbeats[ray_id] = heartbeat
            if twin is not None:
                self._twins[ray_id] = twin
        return twin is not None

    def number(self, ray_id: str) -> int | None:
        trial = self._trials.get(ray_id)
        return None if trial is None else trial.number

    def reported(self, ray_id: str, config: Mapping[str, Any], epoch: int, value: float) -> None:
        super().reported(ray_id, config, epoch, value)
        from optuna.exceptions import UpdateFinishedTrialError

        if self.objectives == 1:  # Optuna keeps no curve for two objectives
            # Failed as stale meanwhile (this driver looked dead): _finish drops the result and says so.
            with contextlib.suppress(UpdateFinishedTrialError):
                self._trials[ray_id].report(value, step=epoch)

    def finish(self, ray_id: str, config: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        import optuna

        trial = self._trials[ray_id]
        twin = self._twins.pop(ray_id, None)
        if twin is not None:
            # Same parameters, same plan, same seeds: training again would give the same numbers.
            attrs = twin_attrs(twin, worker=_WORKER, engine="ray")
            finished = _finish(self.storage, self.study, trial, optuna.trial.TrialState.COMPLETE, attrs,
                               values=list(twin.values), curve=twin.intermediate_values)  # fmt: skip
        else:
            outcome = _Outcome.of(result, self.objectives)
            state = optuna.trial.TrialState[outcome.state]
            finished = _finish(self.storage, self.study, trial, state, outcome.attrs, values=outcome.values,
                               nan_step=outcome.nan_step)  # fmt: skip
        if finished:
            self.finished += 1
        self._settled(ray_id)

    def fail(self, ray_id: str, config: Mapping[str, Any], message: str) -> None:
        from optuna.trial import TrialState

        trial = self._trials[ray_id]
        attrs = {REASON_ATTR: f"error: {message}", ENGINE_ATTR: "ray"}
        _finish(self.storage, self.study, trial, TrialState.FAIL, attrs)
        self.errors.append(f"trial {trial.number}: {message}")
        self._settled(ray_id)

    def _settled(self, ray_id: str) -> None:
        self.ended(ray_id)
        with self._lock:
            heartbeat = self._heartbeats.pop(ray_id)
            self._trials.pop(ray_id)
        heartbeat.close()

    def close(self) -> bool:
        from optuna.trial import TrialState

        left = list(self._trials)
        for ray_id in left:
            # Asked but not finished (Ctrl-C, or a driver error): queue the configuration again, as
            # the Optuna engine does with an interrupted trial, so the next launch runs it.
            attrs = {REASON_ATTR: "interrupted", ENGINE_ATTR: "ray"}
            _finish(self.storage, self.study, self._trials[ray_id], TrialState.FAIL, attrs, requeue=True)
            self._settled(ray_id)
        return bool(left)


class _Population(_Book):
    """PBT members: nothing is in the study while they train; each is added when it ends."""

    def __init__(self, study: optuna.Study, objectives: int, space: SearchSpace) -> None:
        super().__init__(study, objectives)
        self.space = space

    def finish(self, ray_id: str, config: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        outcome = _Outcome.of(result, self.objectives)
        curve = dict(enumerate(outcome.attrs["seed_histories"][0], start=1))
        if outcome.nan_step is not None:
            curve[outcome.nan_step] = math.nan
        # The member's parameters are those it ended with: copying a better member replaces them all.
        self._add(searched(self.space, outcome.attrs["config"]), outcome.state, outcome.values, outcome.attrs, curve)
        self.finished += 1
        self.ended(ray_id)

    def fail(self, ray_id: str, config: Mapping[str, Any], message: str) -> None:
        attrs = {REASON_ATTR: f"error: {message}", ENGINE_ATTR: "ray"}
        self._add(searched(self.space, config), "FAIL", None, attrs, {})
        self.errors.append(f"population member {ray_id}: {message}")
        self.ended(ray_id)

    def _add(self, params: dict[str, Any], state: str, values: list[float] | None, attrs: dict[str, Any],
             curve: dict[int, float]) -> None:  # fmt: skip
        import optuna

        distributions = self.space.distributions()
        self.study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState[state],
                values=values,
                params=params,
                distributions={name: distributions[name] for name in params},
                user_attrs=attrs,
                intermediate_values=curve if self.objectives == 1 else None,
            )
        )

