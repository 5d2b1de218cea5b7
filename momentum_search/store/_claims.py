"""What the engines ask of a storage beyond Optuna's calls: claim a WAITING trial, finish one in one
transaction (:class:`TrialStore`). The RDB storage and the proxy's client mix it in."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage

from momentum_search._quiet import allow_experimental
from momentum_search.store import _internals

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler
    from optuna.trial import FrozenTrial, TrialState


class TrialStore(BaseStorage):
    """What the engines ask of a storage beyond Optuna's calls: claim a WAITING trial, finish one in
    one transaction. :class:`Storage` (an RDB) and the proxy's client mix it in; :class:`Storage`
    adds the transaction and the fast writes. Each method takes its private path only where
    :func:`_internals.privates` found it, else Optuna's public API.

    ``study`` arguments are studies loaded from this storage (``optuna.load_study(storage=self)``).
    """

    if TYPE_CHECKING:  # what both storages have, as Optuna's heartbeat mixin or the proxy client's own

        def record_heartbeat(self, trial_id: int) -> None: ...

        def get_heartbeat_interval(self) -> int | None: ...

    def one_transaction(self) -> contextlib.AbstractContextManager[None]:
        """A block whose storage calls commit together; here (the proxy) each call is one of its own."""
        return contextlib.nullcontext()

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def study_id(self, study: optuna.Study) -> int:
        """The storage's id of ``study``."""
        return _internals.study_id(study, self)

    def trial_id(self, study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> int:
        """The storage's id of ``trial`` (Optuna's storage calls take ids; its public objects carry numbers)."""
        return _internals.trial_id(self, study, trial)

    def set_trial_user_attrs(self, trial_id: int, attrs: dict[str, Any]) -> None:
        """``set_trial_user_attr`` for each of ``attrs``."""
        for key, value in attrs.items():
            self.set_trial_user_attr(trial_id, key, value)

    def set_trial_intermediate_values(self, trial_id: int, curve: dict[int, float]) -> None:
        """``set_trial_intermediate_value`` for each step of ``curve``."""
        for step, value in curve.items():
            self.set_trial_intermediate_value(trial_id, step, value)

    def claim_trial(self, study: optuna.Study, *, sampler: Callable[[int], BaseSampler] | None = None) -> optuna.Trial | None:
        """Take one of ``study``'s WAITING trials and return it RUNNING, or None if every one is
        taken; it never creates a trial. ``sampler(number)`` becomes the study's sampler before the
        trial is built (samplers are seeded by the trial number).

        The claim is atomic: ``set_trial_state_values(RUNNING)`` answers True to one caller only (a
        row lock on PostgreSQL and MySQL, ``BEGIN IMMEDIATE`` on SQLite). The heartbeat is recorded
        first: a worker killed in between leaves a trial that goes stale and is retried, rather than
        one RUNNING for ever with no heartbeat at all.

        Public API only, on both of the store's paths: what ``Study.ask`` does with a queued trial,
        without what it does when the queue emptied under it (create a new trial, which four workers
        on a server database made a 17th of a budget of 16).
        """
        from optuna.trial import TrialState

        # Reading through the study also tells its storage cache about the trials, as Study.ask does.
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if not waiting:
            return None
        for frozen in waiting:
            # Its id as the cache read it where the private paths are on: looking it up by number scans
            # the study's rows (no index on number), a cost that grew with the study.
            trial_id = self.trial_id(study, frozen)
            # Two workers racing to insert the same heartbeat row is harmless: the storage ignores the duplicate.
            self.record_heartbeat(trial_id)
            try:
                if not self.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    continue
            except UpdateFinishedTrialError:
                continue
            if sampler is not None:
                study.sampler = sampler(frozen.number)
            return _internals.claimed_trial(study, trial_id)
        return None

    def finish_trial(
        self,
        study: optuna.Study,
        trial: optuna.Trial | FrozenTrial,
        state: TrialState,
        *,
        attrs: dict[str, Any],
        values: list[float] | None = None,
        curve: dict[int, float] | None = None,
        requeue: bool = False,
    ) -> bool:
        """End the RUNNING ``trial`` in ``state`` with ``values``, its user ``attrs`` and intermediate
        values ``curve`` (by step), in one transaction: all of it is written, or nothing. ``requeue``
        also queues a WAITING copy with the same parameters, as a stale trial gets (system attr
        ``retry_history``). Returns False, having written nothing, if the trial had finished already
        (another worker failed it as stale).
        """
        from optuna.trial import TrialState

        trial_id = self.trial_id(study, trial)
        try:
            with self._transaction():
                # Lock the trial first (SELECT … FOR UPDATE on a server; SQLite's BEGIN IMMEDIATE locks
                # it all): whoever fails it as stale meanwhile waits, or won and this raises. RUNNING
                # to RUNNING writes nothing.
                self.set_trial_state_values(trial_id, state=TrialState.RUNNING)
                self.set_trial_user_attrs(trial_id, attrs)
                self.set_trial_intermediate_values(trial_id, curve or {})
                # Through tell, as every Optuna trial ends: a PRUNED trial takes its last intermediate
                # value as its value, and the sampler sees the trial end.
                study.tell(trial if isinstance(trial, optuna.Trial) else trial.number, values, state=state)
                if requeue:
                    with allow_experimental():
                        optuna.storages.RetryHeartbeatStaleTrialCallback()(study, self.get_trial(trial_id))
        except UpdateFinishedTrialError:
            return False
        return True
