"""Trials whose process is known to be dead, failed and re-enqueued at once.

A heartbeat goes stale only after the grace period, and only a process that polls the storage (an
Optuna worker) notices. Ray's driver is the only process that writes a Ray run's trials, so after it
is killed nothing beats for them and nothing reaps them until the next launch, which would otherwise
have to wait out the grace period. The driver therefore records itself (``host:pid``) in each trial
it runs (system attr :data:`OWNER_ATTR`); a launch on the same host fails the RUNNING trials whose
owner process is gone, with a reason, and re-enqueues them, as a stale trial is. A dead owner on
another host is left to the heartbeat: the next launch after the grace period fails those trials.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from momentum_search.search._record import REASON_ATTR

if TYPE_CHECKING:
    import optuna

    from momentum_search.store import TrialStore

OWNER_ATTR = "owner"  # system attr: host:pid of the process that runs the trial (Ray's driver)


def fail_orphaned_trials(study: optuna.Study, storage: TrialStore) -> list[int]:
    """Fail the RUNNING trials of ``study`` whose owner process on this host is gone, with reason
    ``owner lost: process HOST:PID is gone``, and re-enqueue each; returns their numbers."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    lost = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.system_attrs.get(OWNER_ATTR)
        if owner is None:
            continue
        owner_host, _, pid = owner.rpartition(":")
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        # Another launch may reap the same trial: the store lets one of them finish it and queue the copy.
        attrs = {REASON_ATTR: f"owner lost: process {owner} is gone"}
        if storage.finish_trial(study, trial, TrialState.FAIL, attrs=attrs, requeue=True):
            lost.append(trial.number)
    return lost


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
