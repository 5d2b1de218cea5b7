"""The worker's side of the storage proxy (see ``_proxy_server.py``): the ``grpc://HOST:PORT`` URL, and a
client that beats for its trials."""

from __future__ import annotations

import socket

from optuna.storages import GrpcStorageProxy

from momentum_search._quiet import allow_experimental
from momentum_search.store._claims import TrialStore
from momentum_search.store._errors import StorageError
from momentum_search.store._heartbeat import Heartbeat
from momentum_search.store._urls import CONNECT_TIMEOUT

PROXY_SCHEME = "grpc"
HEARTBEAT_ATTR = "momentum_search:heartbeat"  # carries a worker's heartbeat to the proxy; never stored
DEFAULT_PROXY_PORT = 13000  # Optuna's default
PROXY_THREADS = 10  # Optuna's default: RPCs served at once, and so at most this many database connections in use


def is_proxy_url(url: str) -> bool:
    return url.startswith(f"{PROXY_SCHEME}://")


def proxy_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of a ``grpc://HOST:PORT`` URL.

    Raises:
        StorageError: no host, or a port that is not a number in 1..65535.
    """
    address = url[len(PROXY_SCHEME) + 3 :].rstrip("/")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise StorageError(f"storage {url!r}: expected grpc://HOST:PORT, e.g. grpc://127.0.0.1:{DEFAULT_PROXY_PORT}")
    return host, int(port)


def describe_rpc_error(error: BaseException) -> str | None:
    """One line for a gRPC error (the proxy went away, say); None for any other error."""
    import sys

    grpc = sys.modules.get("grpc")  # a gRPC error can only come from a loaded grpc
    if grpc is None or not isinstance(error, grpc.RpcError):
        return None
    details = (error.details() or "").strip().splitlines()
    return f"{error.code().name}: {details[0]}" if details else error.code().name


def open_proxy(url: str, *, heartbeat: Heartbeat = Heartbeat()) -> ProxyStorage:
    """Connect to the storage proxy at ``url`` (``grpc://HOST:PORT``).

    Raises:
        StorageError: bad URL, or no proxy answers within the connect timeout.
    """
    host, port = proxy_address(url)
    try:
        # gRPC retries a refused connection until the timeout and then says only that; a plain one says why.
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise StorageError(f"cannot reach the storage proxy at {url}: {error.strerror or error}") from None
    with allow_experimental():
        storage = ProxyStorage(host=host, port=port, heartbeat=heartbeat)
    try:
        storage.wait_server_ready(timeout=CONNECT_TIMEOUT)
    except ConnectionError:
        storage.close()
        raise StorageError(f"the storage proxy at {url} did not answer within {CONNECT_TIMEOUT} s") from None
    return storage


class ProxyStorage(TrialStore, GrpcStorageProxy):
    """Optuna's ``GrpcStorageProxy`` that also beats for its trials (see ``_proxy_server.py``).

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
