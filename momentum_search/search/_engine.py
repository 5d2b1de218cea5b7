"""What both engines (Optuna's workers, Ray's driver) do the same way with a claimed trial: beat for it
while it runs, reuse an earlier COMPLETE twin's result, and finish it in one transaction of the store."""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from momentum_search.search._record import TRIAL_SEEDS_ATTR

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial, TrialState

    from momentum_search.store import TrialStore

_logger = logging.getLogger(__name__)
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # which process ran a trial, for provenance


def finish(
    storage: TrialStore,
    study: optuna.Study,
    trial: optuna.Trial,
    state: TrialState,
    attrs: dict[str, Any],
    *,
    values: list[float] | None = None,
    nan_step: int | None = None,
    curve: dict[int, float] | None = None,
    requeue: bool = False,
) -> bool:
    """Record ``attrs`` (and a learning ``curve``, NaN at ``nan_step``) and end the trial in
    ``state``, in one transaction; ``requeue`` also queues a copy of it. False if it had been failed
    as stale meanwhile: nothing is written then."""
    curve = dict(curve or {})
    if nan_step is not None:
        curve[nan_step] = math.nan
    if storage.finish_trial(study, trial, state, attrs=attrs, values=values, curve=curve, requeue=requeue):
        return True
    dropped(trial)
    return False


def dropped(trial: optuna.Trial) -> None:
    # This worker looked dead (paused or cut off longer than the grace period), so another one failed
    # the trial and re-enqueued it: the copy counts, this result must not.
    _logger.warning("trial %d was failed as stale meanwhile; its result is dropped", trial.number)


def complete_twin(
    study: optuna.Study, number: int, params: dict[str, Any], *, seeds: list[int] | None = None
) -> FrozenTrial | None:
    """An earlier COMPLETE trial with exactly ``params`` and the same seeds of its own (``TRIAL_SEEDS_ATTR``;
    None: the plan's), if any."""
    from optuna.trial import TrialState

    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if other.number != number and other.params == params and other.user_attrs.get(TRIAL_SEEDS_ATTR) == seeds:
            return other
    return None


class TrialHeartbeat:
    """Record the trial's heartbeat every ``heartbeat_interval`` seconds in a thread while it runs."""

    def __init__(self, storage: TrialStore, trial_id: int) -> None:
        self._store = storage
        self._id = trial_id
        self._interval = storage.get_heartbeat_interval()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{trial_id}", daemon=True)

    def __enter__(self) -> TrialHeartbeat:
        if self._interval is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self) -> None:
        assert self._interval is not None
        while not self._done.wait(self._interval):
            try:
                self._store.record_heartbeat(self._id)
            except Exception as error:  # a transient database error must not end the trial
                _logger.warning("heartbeat of trial id %d failed: %s", self._id, error)
