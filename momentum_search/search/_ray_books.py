"""The Ray driver's books: what Ray runs, and what goes into the study.

The searcher and the recorder (``_ray_tune.py``) share one book in the driver: :class:`Asked` for trials
claimed from the study's queue, :class:`Population` for PBT members, added to the study when they end.
"""

from __future__ import annotations

import contextlib
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from momentum_search.search import _engine
from momentum_search.search._record import ENGINE_ATTR, REASON_ATTR, finished_attrs, twin_attrs
from momentum_search.search._recovery import OWNER_ATTR
from momentum_search.search._space import CELL_PARAMETER, SearchSpace

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from momentum_search.search._objective import TrialPlan
    from momentum_search.search._samplers import SamplerSpec
    from momentum_search.search._schedulers import SchedulerSpec
    from momentum_search.store import TrialStore


class TuneRun(Protocol):
    """What the Tune side reads of the engine that runs it (``_ray.RayEngine``)."""

    space: SearchSpace
    plan: TrialPlan
    sampler: SamplerSpec
    scheduler: SchedulerSpec
    cpus_per_trial: int
    gpus_per_trial: float

    @property
    def population(self) -> bool: ...


@dataclass(frozen=True)
class LiveTrial:
    """A trial Ray is running now: its study trial number (None for a PBT member, added when it
    ends), parameters (cell included), and the first seed's last epoch and validation metric."""

    number: int | None
    params: dict[str, Any]
    epoch: int | None = None
    value: float | None = None


def searched(space: SearchSpace, values: Mapping[str, Any]) -> dict[str, Any]:
    """``cell`` and the searched parameters that cell uses, taken from ``values`` (a trainer config or Ray config)."""
    cell = values[CELL_PARAMETER]
    return {CELL_PARAMETER: cell, **{name: values[name] for name in space.parameters(cell)}}


@dataclass(frozen=True)
class Outcome:
    """How a trial ends in the study, from its last report (see ``_ray_tune.py`` for the keys)."""

    state: str  # an optuna TrialState name
    values: list[float] | None
    attrs: dict[str, Any]
    nan_step: int | None

    @classmethod
    def of(cls, result: Mapping[str, Any], objectives: int) -> Outcome:
        attrs = finished_attrs(
            result["attrs"], reason=result["reason"], engine="ray", worker=f"{result.get('hostname')}:{result.get('pid')}"
        )
        if result["final"] and result["reason"] is None:
            values = [attrs["value_mean"], attrs["train_time"]][:objectives]
            return cls("COMPLETE", values, attrs, None)
        # Stopped by the scheduler (a report before the last epoch), or diverged. As on Optuna, NaN at
        # the epoch that diverged ranks the trial worst among those stopped there.
        nan_step = result["diverged_epoch"] if objectives == 1 else None
        return cls("PRUNED", None, attrs, nan_step)


class Book(ABC):
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


class Asked(Book):
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
        self.storage.set_trial_system_attr(trial_id, OWNER_ATTR, _engine.WORKER)
        heartbeat = contextlib.ExitStack()
        heartbeat.enter_context(_engine.TrialHeartbeat(self.storage, trial_id))
        twin = _engine.complete_twin(self.study, trial.number, params)
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
            # Failed as stale meanwhile (this driver looked dead): finish drops the result and says so.
            with contextlib.suppress(UpdateFinishedTrialError):
                self._trials[ray_id].report(value, step=epoch)

    def finish(self, ray_id: str, config: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        import optuna

        trial = self._trials[ray_id]
        twin = self._twins.pop(ray_id, None)
        if twin is not None:
            # Same parameters, same plan, same seeds: training again would give the same numbers.
            attrs = twin_attrs(twin, worker=_engine.WORKER, engine="ray")
            finished = _engine.finish(
                self.storage,
                self.study,
                trial,
                optuna.trial.TrialState.COMPLETE,
                attrs,
                values=list(twin.values),
                curve=twin.intermediate_values,
            )
        else:
            outcome = Outcome.of(result, self.objectives)
            state = optuna.trial.TrialState[outcome.state]
            finished = _engine.finish(
                self.storage, self.study, trial, state, outcome.attrs, values=outcome.values, nan_step=outcome.nan_step
            )
        if finished:
            self.finished += 1
        self._settled(ray_id)

    def fail(self, ray_id: str, config: Mapping[str, Any], message: str) -> None:
        from optuna.trial import TrialState

        trial = self._trials[ray_id]
        attrs = {REASON_ATTR: f"error: {message}", ENGINE_ATTR: "ray"}
        _engine.finish(self.storage, self.study, trial, TrialState.FAIL, attrs)
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
            _engine.finish(self.storage, self.study, self._trials[ray_id], TrialState.FAIL, attrs, requeue=True)
            self._settled(ray_id)
        return bool(left)


class Population(Book):
    """PBT members: nothing is in the study while they train; each is added when it ends."""

    def __init__(self, study: optuna.Study, objectives: int, space: SearchSpace) -> None:
        super().__init__(study, objectives)
        self.space = space

    def finish(self, ray_id: str, config: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        outcome = Outcome.of(result, self.objectives)
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

    def _add(
        self, params: dict[str, Any], state: str, values: list[float] | None, attrs: dict[str, Any], curve: dict[int, float]
    ) -> None:
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
