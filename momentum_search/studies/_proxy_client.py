"""The worker's side of the storage proxy (see ``_proxy.py``); imports Optuna, so it is imported late."""

from __future__ import annotations

from optuna.storages import GrpcStorageProxy

from momentum_search.studies._proxy import HEARTBEAT_ATTR, PROXY_SCHEME
from momentum_search.studies._storage import Heartbeat, TrialStore


class ProxyStorage(TrialStore, GrpcStorageProxy):
    """Optuna's ``GrpcStorageProxy`` that also beats for its trials (see the module doc).

    It offers what the engines call for heartbeats, ``record_heartbeat`` and
    ``get_heartbeat_interval``, but is no Optuna ``BaseHeartbeat``: ``fail_stale_trials`` on it
    does nothing, because the proxy process reaps. As a trial store it writes with Optuna's calls,
    each a transaction of its own on the proxy's server: a finished trial is not written in one.
    """

    def __init__(self, *, host: str, port: int, heartbeat: Heartbeat = Heartbeat()) -> None:
        super().__init__(host=host, port=port)
        self.url = f"{PROXY_SCHEME}://{host}:{port}"  # what workers of a launch are given
        self._interval = heartbeat.interval

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, None)

    def get_heartbeat_interval(self) -> int:
        return self._interval
