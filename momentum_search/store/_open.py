"""Opening the store: an Optuna RDB storage behind a SQLAlchemy URL, SQLite by default.

Plain SQLite fails under several worker processes ("database is locked", and worse: pysqlite starts
transactions lazily, so two workers can both read a trial as WAITING and both claim it). Here every
SQLite transaction starts with ``BEGIN IMMEDIATE``, which takes the write lock before the first read,
so claims are atomic; the busy timeout makes a writer wait for the lock (SQLite retries internally
until the timeout) instead of failing; WAL lets readers go on while one writes. PostgreSQL and MySQL
URLs go to Optuna unchanged apart from a connect timeout and a pre-ping of pooled connections.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import optuna

from momentum_search._quiet import allow_experimental
from momentum_search.store import _internals, _rdb
from momentum_search.store._errors import StorageError, connection_dropped, describe_error
from momentum_search.store._heartbeat import Heartbeat
from momentum_search.store._proxy_client import is_proxy_url, open_proxy
from momentum_search.store._rdb import Storage
from momentum_search.store._urls import CONNECT_TIMEOUT, mask_url, resolve_url

_logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT = 60.0  # seconds a SQLite writer waits for the lock before giving up


def open_storage(url: str | None = None, *, heartbeat: Heartbeat = Heartbeat(), read_only: bool = False) -> Storage:
    """Open (and create the tables of) the storage at ``url`` (see :func:`resolve_url`); a
    ``grpc://HOST:PORT`` URL connects to a storage proxy instead (:func:`open_proxy`).

    ``read_only``: the caller only reads (list, show, export, plot). A store at the schema of the
    tested Optuna versions then opens without Optuna's schema work (:func:`_internals.open_for_reading`), and a
    SQLite file that cannot be written (a read-only file, folder or mount) is opened read-only; without
    it, that file is refused with the reason.

    Raises:
        StorageError: the database cannot be reached, opened or created; one line, no password.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    url = resolve_url(url)
    if is_proxy_url(url):
        return open_proxy(url, heartbeat=heartbeat)  # type: ignore[return-value]  # duck-types what we use
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    engine_kwargs: dict[str, Any] = {}
    open_url, writable = url, True
    if backend == "sqlite":
        assert parsed.database is not None  # resolve_url refuses in-memory databases
        path = Path(parsed.database)
        writable = _sqlite_writable(path, read_only=read_only)
        if writable:
            _prepare_sqlite(path)
        else:
            open_url = _read_only_sqlite_url(path)
        # isolation_level=None: pysqlite emits no BEGIN of its own; _begin_immediate does.
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT, "isolation_level": None}
    elif backend in ("postgresql", "mysql"):
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
        # A pooled connection the server dropped while idle is replaced before use, not failed on.
        engine_kwargs["pool_pre_ping"] = True
    # Opening runs queries too (tables, schema version): a server that drops the connection meanwhile
    # is ridden out like any call; one that refuses it (a wrong host or port) fails at once.
    for delay in (*_rdb.RETRY_DELAYS, None):
        try:
            with allow_experimental():
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=heartbeat.max_retry)
                fast = _internals.open_for_reading(Storage, open_url, engine_kwargs, heartbeat, retry) if read_only else None
                storage = fast or Storage(
                    open_url,
                    engine_kwargs=engine_kwargs,
                    skip_table_creation=not writable,
                    heartbeat_interval=heartbeat.interval,
                    grace_period=heartbeat.grace_period,
                    heartbeat_stale_trial_callback=retry,
                )
            break
        except Exception as error:
            if delay is None or not connection_dropped(error):
                raise StorageError(f"cannot open storage {mask_url(url)}: {describe_error(error)}") from None
            _logger.warning("storage %s: %s; trying again in %g s", mask_url(url), describe_error(error), delay)
            time.sleep(delay)
    if backend == "sqlite" and writable:
        event.listen(storage.engine, "begin", _begin_deferred if read_only else _begin_immediate)
    return storage


def _sqlite_writable(path: Path, *, read_only: bool) -> bool:
    """Whether ``path`` can be opened for writing; refuses an unwritable file unless ``read_only``."""
    if not path.exists():
        return True  # created by _prepare_sqlite, which names the folder if that fails
    # WAL needs the folder too: SQLite creates the -wal and -shm files next to the database.
    blocked = [str(p) for p in (path, path.parent) if not os.access(p, os.W_OK)]
    if not blocked:
        return True
    if not read_only:
        raise StorageError(
            f"cannot open storage sqlite:///{path}: {' and '.join(blocked)} cannot be written "
            f"(read-only file, folder or mount); this command writes, so it needs both writable"
        )
    return False


def _read_only_sqlite_url(path: Path) -> str:
    # A WAL database is read through its -shm file, which a read-only folder cannot hold; immutable=1
    # reads the file as it is instead. Nobody can be writing to it: a writer would need that folder.
    immutable = "&immutable=1" if not os.access(path.parent, os.W_OK) else ""
    return f"sqlite:///file:{path}?mode=ro{immutable}&uri=true"


def _prepare_sqlite(path: Path) -> None:
    if not path.parent.is_dir():
        raise StorageError(f"cannot open storage sqlite:///{path}: folder {path.parent} does not exist")
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)) as connection:
            # WAL persists in the file: readers no longer wait for a writer.
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as error:
        raise StorageError(f"cannot open storage sqlite:///{path}: {error}") from None


def _begin_immediate(connection: Any) -> None:
    # Take the write lock up front: a read-then-write transaction (claiming a WAITING trial) can then
    # never interleave with another worker's, and never needs a lock upgrade that SQLite would refuse.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(connection: Any) -> None:
    # A reader's transaction: one snapshot for all its queries, and no write lock, so in WAL mode a read
    # command answers while a launch writes (with BEGIN IMMEDIATE it queued behind every worker).
    connection.exec_driver_sql("BEGIN")
