"""A study storage served to many workers through Optuna's gRPC storage proxy, with heartbeats.

Each worker on a database URL holds its own connections (PostgreSQL allows 100 by default); through
the proxy (``momentum-search storage-proxy``) only the proxy process connects to the database, and
workers use ``--storage grpc://HOST:PORT``. Optuna's proxy carries no heartbeats, so a worker that
dies behind it would leave its trial RUNNING for ever. Here:

- a worker's heartbeat travels as the trial system attr :data:`HEARTBEAT_ATTR`, an ordinary proxy
  call; the proxy's storage records it as the trial's heartbeat instead of storing the attr;
- the proxy process, which holds the real storage, fails the trials whose heartbeat is older than
  the grace period and re-enqueues them (``RetryHeartbeatStaleTrialCallback``), every heartbeat
  interval, for every study: what workers on a database URL do for each other.

Claims stay atomic: ``set_trial_state_values(RUNNING)`` runs in the proxy against the database,
which answers True to one caller only, as it does for direct workers.
"""

from __future__ import annotations

import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from momentum_search._quiet import allow_experimental, quiet_optuna
from momentum_search.store._errors import StorageError
from momentum_search.store._heartbeat import Heartbeat, fail_stale_trials
from momentum_search.store._open import open_storage
from momentum_search.store._proxy_client import DEFAULT_PROXY_PORT, HEARTBEAT_ATTR, PROXY_THREADS, is_proxy_url, open_proxy
from momentum_search.store._urls import mask_url, resolve_url

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from optuna.storages import BaseStorage

_logger = logging.getLogger(__name__)


class _HeartbeatRelay:
    """The proxy's storage: every call goes to ``backend``, except a heartbeat attr, recorded as one."""

    def __init__(self, backend: BaseStorage) -> None:
        self._base = backend
        # A reap fails a trial, then queues its copy: no read may fall in between, or a worker could
        # see neither a RUNNING nor a WAITING trial and stop while the copy still has to run.
        self._gate = threading.Condition()
        self._reads = 0
        self._reaping = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def get_all_trials(self, *args: Any, **kwargs: Any) -> Any:
        with self._gate:
            self._gate.wait_for(lambda: not self._reaping)
            self._reads += 1
        try:
            return self._base.get_all_trials(*args, **kwargs)
        finally:
            with self._gate:
                self._reads -= 1
                self._gate.notify_all()

    @contextmanager
    def reaping(self) -> Iterator[None]:
        """Hold new reads back and wait for those in flight, for the length of the block."""
        with self._gate:
            self._reaping = True
            self._gate.wait_for(lambda: self._reads == 0)
        try:
            yield
        finally:
            with self._gate:
                self._reaping = False
                self._gate.notify_all()

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if key == HEARTBEAT_ATTR:
            self._base.record_heartbeat(trial_id)  # type: ignore[attr-defined]
        else:
            self._base.set_trial_system_attr(trial_id, key, value)


def serve_proxy(
    storage: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PROXY_PORT,
    threads: int = PROXY_THREADS,
    heartbeat: Heartbeat = Heartbeat(),
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``storage`` (a database URL) through Optuna's gRPC proxy until interrupted (blocks), and
    reap the trials of dead workers every ``heartbeat.interval`` seconds.

    ``threads`` RPCs are served at once; each holds at most one database connection. ``on_ready`` is
    called with the masked database URL once the database answered, just before serving.

    Raises:
        StorageError: the database cannot be reached, or ``storage`` is itself a proxy.
        ValueError: bad port or thread count.
        OSError: the address cannot be bound.
    """
    import optuna

    if not 0 < port < 65536:
        raise ValueError(f"port must be in 1..65535, got {port}")
    if threads < 1:
        raise ValueError(f"threads must be ≥ 1, got {threads}")
    url = resolve_url(storage)
    if is_proxy_url(url):
        raise StorageError(f"storage {url}: a proxy serves a database URL, not another proxy")
    quiet_optuna()
    rdb = open_storage(url, heartbeat=heartbeat)
    # Optuna's cache reads only the unfinished trials of a study again: the proxy answers every
    # worker's poll from it instead of reading the whole study each time.
    backend = optuna.storages.get_storage(rdb)
    _check_free(host, port)
    relay = _HeartbeatRelay(backend)
    done = threading.Event()
    reaper = threading.Thread(target=_reap, args=(relay, backend, heartbeat.interval, done), name="reaper", daemon=True)
    reaper.start()
    if on_ready is not None:
        on_ready(mask_url(rdb.url))
    try:
        with allow_experimental():
            optuna.storages.run_grpc_proxy_server(
                cast("BaseStorage", relay),
                host=host,
                port=port,
                thread_pool=ThreadPoolExecutor(max_workers=threads, thread_name_prefix="proxy"),
            )
    finally:
        done.set()
        reaper.join()


@contextmanager
def proxy_process(storage: str, *, heartbeat: Heartbeat = Heartbeat(), timeout: float = 60.0) -> Iterator[str]:
    """A storage proxy on ``storage`` (a database URL) in a child process on a free port of 127.0.0.1:
    yields its ``grpc://`` URL once it answers, and stops it on exit. For a script or test that needs
    a proxy of its own; from a shell, ``momentum-search storage-proxy`` serves one.

    Raises:
        StorageError: the proxy could not serve (why, as the child found it), or did not listen within
            ``timeout`` seconds.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    reasons, reason_sender = context.Pipe(duplex=False)
    server = context.Process(
        target=_serve_child, args=(storage, port, heartbeat, reason_sender), name="storage-proxy", daemon=True
    )
    server.start()
    reason_sender.close()  # the child holds its own end
    url = f"grpc://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:  # until it listens: a proxy still starting refuses connections
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if not server.is_alive():
                try:  # the child's only end is closed now: its reason, or end of file at once
                    reason = reasons.recv()
                except EOFError:  # it died without one
                    reason = f"exited with code {server.exitcode}"
                raise StorageError(f"storage proxy on {mask_url(storage)}: {reason}")
            if time.monotonic() > deadline:
                raise StorageError(f"storage proxy on {mask_url(storage)}: not listening after {timeout:g} s")
            time.sleep(0.2)
        open_proxy(url).close()  # listening and answering
        yield url
    finally:
        server.terminate()
        server.join()
        reasons.close()


def _serve_child(storage: str, port: int, heartbeat: Heartbeat, reasons: Connection) -> None:
    # What stops the proxy goes to the parent as one line, not as the child's traceback on stderr.
    try:
        serve_proxy(storage, port=port, heartbeat=heartbeat)
    except (StorageError, ValueError, OSError) as error:
        reasons.send(str(error))
        raise SystemExit(1) from None


def _check_free(host: str, port: int) -> None:
    # gRPC binds with SO_REUSEPORT and logs, rather than raises, when it cannot bind: ask first.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _reap(relay: _HeartbeatRelay, backend: BaseStorage, interval: int, done: threading.Event) -> None:
    import optuna

    while not done.wait(interval):
        try:
            for frozen in backend.get_all_studies():
                study = optuna.load_study(study_name=frozen.study_name, storage=backend)
                with relay.reaping():
                    fail_stale_trials(study)
        except Exception as error:  # a transient database error must not stop the reaping
            _logger.warning("reaping stale trials failed: %s", error)
